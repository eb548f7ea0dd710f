/// Why the pipeline (or the workers running it) will not resize: each case names what to change. The HTTP
/// edge maps it to its problem (`Problem.init(_:)`), the only place that knows status codes.
public enum ResizeRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Over (or under) a limit: a configured one (`max_input_pixels`, `max_seam_work`, `job_timeout`, the job
    /// memory budget …) or one of the method itself (deep's smallest sides). Asking for less helps (422).
    case outsideLimits(String)
    /// The method cannot run now: `deep` without its weights (503).
    case unavailable(String)

    public var description: String {
        switch self {
        case .outsideLimits(let reason), .unavailable(let reason): reason
        }
    }
}
