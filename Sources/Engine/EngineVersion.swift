/// The version of the bytes a resize produces. The result cache (docs/api.md "Result cache") keys stored
/// results on it, so a result made by older code is never answered for a request this build would answer
/// differently. Bump it with any change that alters an output: a method, the resampler, the network's use of
/// the weights, the codecs' settings, the colour conversion.
/// History: 2, deep's relu4_1 anchored on the carved start near lines (docs/spec.md §3.4); 3, deep's seams
/// set a walling mask aside (§3.1); 4, deep's targets follow the carved start at a shrunk axis's borders
/// (§3.5); 5, at the borders of every axis that changed size (§3.5), an inserted copy of the first column
/// or row anchored as inserted (§3.6), the curvature prior where R0 is smooth (§4), and since 4 also the
/// tear-aware seam search, the subject-span rule and the anchor's pass (§3.2, §3.4), which changed outputs
/// without a bump; 6, the mask closed before it is opened (§2), and a mask the wall rule set aside still
/// kept wider in the scale after the seams and, set aside narrowly, still a subject for the span rule (§3.2).
public enum EngineVersion {
    public static let current = 6
}
