import Engine
import ImageCodecs

// A job's options as the store keeps them (`JobParams`, JSON in its row) and as the pipeline takes them
// (`ResizeOptions`): the one place that maps one to the other, both ways.

extension JobParams {
    /// What a submission stores: the output size already worked out from the source, and only the
    /// settings its method and format use.
    public init(_ options: ResizeOptions, width: Int, height: Int) {
        let deep = options.method == .deep
        self.init(width: width, height: height, op: deep ? options.featureOperator.rawValue : nil,
                  protect: deep ? options.protect : nil, iterations: deep ? options.iterations : nil,
                  format: options.format.rawValue, quality: options.format.isLossy ? options.quality : nil)
    }
}

extension JobRecord {
    /// The options a worker runs the job with, rebuilt from what was stored at submission.
    public func resizeOptions() throws -> ResizeOptions {
        guard let method = ResizeMethod(rawValue: method), let format = OutputFormat(rawValue: params.format) else {
            throw JobStoreError.corruptRecord(id: id, detail: "unknown stored parameters (method \(self.method), format \(params.format))")
        }
        var options = ResizeOptions(width: params.width, height: params.height, method: method, format: format)
        if let name = params.op, let op = FeatureOperator(rawValue: name) { options.featureOperator = op }
        if let protect = params.protect { options.protect = protect }
        if let iterations = params.iterations { options.iterations = iterations }
        options.quality = params.quality
        return options
    }
}

extension ResizePipeline {
    /// The memory estimate for a stored job (`estimatedJobBytes`); 0 when its record names no method or
    /// format this server knows (the run fails it anyway).
    public func estimatedJobBytes(for job: JobRecord, encodedBytes: Int) -> Int {
        guard let method = ResizeMethod(rawValue: job.method), let format = ImageFormat(rawValue: job.inputFormat) else { return 0 }
        return estimatedJobBytes(method: method, sourceWidth: job.inputWidth, sourceHeight: job.inputHeight, sourceFormat: format,
                                 encodedBytes: encodedBytes, width: job.params.width, height: job.params.height)
    }
}
