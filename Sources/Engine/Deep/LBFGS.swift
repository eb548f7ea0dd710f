import COpenBLAS

/// Settings of `LBFGS`. The defaults are docs/spec.md §5 and the reference's
/// `torch.optim.LBFGS(lr=1, history_size=10, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
/// tolerance_change=1e-14)`.
public struct LBFGSOptions: Sendable, Equatable {
    /// Outer iterations (torch `max_iter`).
    public var maxIterations: Int
    /// Objective evaluations, the first one included (torch `max_eval`).
    public var maxEvaluations: Int
    public var historySize: Int = 10
    public var learningRate: Double = 1
    public var toleranceGrad: Double = 1e-12
    public var toleranceChange: Double = 1e-14
    /// Sufficient decrease (Armijo) and curvature constants of the strong-Wolfe search.
    public var c1: Double = 1e-4
    public var c2: Double = 0.9
    /// Line-search cap. torch ≥ 2.x passes `max_ls = max_eval − evaluations so far` (not its default 25),
    /// so by default the cap is what is left of `maxEvaluations`; a number here adds a fixed cap on top.
    public var maxLineSearchEvaluations: Int? = nil
    /// torch's `_strong_wolfe` keeps its own default (1e-9) for the bracket-too-small test: the optimiser
    /// does not pass its `tolerance_change` down.
    public var lineSearchToleranceChange: Double = 1e-9
    /// Clamp every coordinate into this range after the last iteration (docs/spec.md §5: no box during the
    /// iterations, R clamped to [0,1] at the end). nil: no clamp.
    public var finalClamp: ClosedRange<Float>? = nil
    /// Early stop on stalled progress (ours, docs/spec.md §5; not in torch): stop once f fell by less than
    /// `tolerance · |f|` over the last `window` iterations. nil: run the whole budget.
    public var stall: LBFGSStall? = nil
    /// The first line search's trial step (later iterations try `learningRate`, which the curvature
    /// pairs have scaled).
    public var firstStep: LBFGSFirstStep = .torch

    /// `maxEvaluations` defaults to ⌊2.5 × iterations⌋, as the reference's `int(iters * 2.5)`.
    public init(iterations: Int, maxEvaluations: Int? = nil) {
        maxIterations = iterations
        self.maxEvaluations = maxEvaluations ?? Int(Double(iterations) * 2.5)
    }
}

/// Where the first line search starts. Later iterations need no such guess: the history's scaling
/// (hDiag = sᵀy / yᵀy) makes step 1 the right size.
public enum LBFGSFirstStep: Sendable, Equatable {
    /// torch's: min(1, 1/‖g‖₁) · learningRate. On an image-sized problem ‖g‖₁ sums millions of small
    /// components, so this step is far too short and the search extrapolates (at most 10× an evaluation)
    /// for several evaluations before it brackets the minimum.
    case torch
    /// The step at which the linear model f + t·gᵀd would have lowered f by `fraction` of f:
    /// t = fraction · f / (−gᵀd). For an objective whose minimum is 0 or a fraction of f (a
    /// least-squares loss), this is the right order of magnitude: on a quadratic along d with minimum
    /// ρ·f it is fraction / (2(1 − ρ)) of the exact step, and the strong-Wolfe test (c2 = 0.9) accepts
    /// 0.1–1.9 of the exact step. Times `learningRate`; no coordinate moves by more than `largestChange`
    /// (pixels in [0, 1]: 1), so a tiny slope cannot make the trial absurd. Falls back to `torch` when
    /// f ≤ 0.
    case lossFraction(Double, largestChange: Double)
}

/// The early-stop rule of `LBFGSOptions.stall`: after iteration k ≥ window, stop when
/// f(k − window) − f(k) ≤ tolerance · |f(k)| (f(0) is the value at the start).
public struct LBFGSStall: Sendable, Equatable {
    public var window: Int
    public var tolerance: Double

    public init(window: Int, tolerance: Double) {
        self.window = window
        self.tolerance = tolerance
    }

    /// Whether the rule stops after the last entry of `losses` (losses[0] = f at the start, then one per
    /// iteration).
    public func isStalled(_ losses: [Double]) -> Bool {
        let k = losses.count - 1
        guard window >= 1, k >= window else { return false }
        return losses[k - window] - losses[k] <= tolerance * abs(losses[k])
    }
}

/// Why the optimiser stopped (the order of torch's checks, then ours).
public enum LBFGSStop: String, Sendable, Equatable {
    case maxIterations
    case maxEvaluations
    /// max |g| ≤ toleranceGrad.
    case gradientTolerance
    /// The direction is not a descent direction (gᵀd > −toleranceChange).
    case noDescent
    /// max |t·d| ≤ toleranceChange.
    case stepTolerance
    /// |f − f_prev| < toleranceChange.
    case lossTolerance
    /// `LBFGSOptions.stall`: too little progress over the last window of iterations.
    case stalled
}

public struct LBFGSResult: Sendable, Equatable {
    /// Outer iterations run (torch's `state["n_iter"]`).
    public var iterations: Int
    /// Objective evaluations, the first one included (torch's `func_evals`).
    public var evaluations: Int
    /// f at the first point.
    public var initialLoss: Double
    /// f at the returned point before any final clamp (the line search's accepted value).
    public var loss: Double
    public var stop: LBFGSStop
}

public struct LBFGSError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { "L-BFGS: \(message)" }
}

/// Limited-memory BFGS with a strong-Wolfe line search, step for step the algorithm of
/// `torch.optim.LBFGS(line_search_fn="strong_wolfe")` (one `step` call), so a run reproduces the
/// reference's trajectory. Vectors are Float (the pixels); dot products accumulate in Double and the
/// scalars (step, curvature, loss) are Double.
public enum LBFGS {
    /// The objective: writes ∇f(x) into `gradient` (same count as x) and returns f(x).
    public typealias Objective = (_ x: UnsafeBufferPointer<Float>, _ gradient: UnsafeMutableBufferPointer<Float>) throws -> Double

    /// Minimises `objective` from `x`, leaving the result in `x`.
    ///
    /// Reports `StepProgress(step: iteration, total: maxIterations, loss: f)` after every iteration and
    /// stops with `OperationCancelled` at the start of an iteration once `context` is cancelled.
    public static func minimize(_ x: inout [Float], options: LBFGSOptions, context: RunContext = .detached,
                                objective: Objective) throws -> LBFGSResult {
        guard options.maxIterations >= 1 else { throw LBFGSError(message: "iterations must be at least 1, got \(options.maxIterations)") }
        guard options.maxEvaluations >= 1 else { throw LBFGSError(message: "evaluations must be at least 1, got \(options.maxEvaluations)") }
        guard options.historySize >= 1 else { throw LBFGSError(message: "history must be at least 1, got \(options.historySize)") }
        guard !x.isEmpty else { throw LBFGSError(message: "nothing to optimise (empty vector)") }
        if let stall = options.stall, stall.window < 1 || !(stall.tolerance >= 0) {
            throw LBFGSError(message: "stall window must be at least 1 and tolerance at least 0, got \(stall.window), \(stall.tolerance)")
        }
        BLASThreading.callerOnly()  // a threaded saxpy would wake OpenBLAS's polling workers
        let (result, solution) = try withoutActuallyEscaping(objective) { objective in
            var run = Run(x: x, options: options, objective: objective)
            let result = try run.minimize(context: context)
            return (result, run.x)
        }
        x = solution
        if let box = options.finalClamp {
            for i in x.indices { x[i] = min(max(x[i], box.lowerBound), box.upperBound) }
        }
        return result
    }

    // MARK: - The algorithm

    private struct Run {
        var x: [Float]
        let options: LBFGSOptions
        let objective: Objective
        var evaluations = 0
        /// Where the objective evaluates trial points x + t·d.
        var trial: [Float]

        init(x: [Float], options: LBFGSOptions, objective: @escaping Objective) {
            self.x = x
            self.options = options
            self.objective = objective
            trial = x
        }

        mutating func evaluate(at point: [Float], into g: inout [Float]) throws -> Double {
            evaluations += 1
            let f = try point.withUnsafeBufferPointer { p in
                try g.withUnsafeMutableBufferPointer { try objective(p, $0) }
            }
            guard f.isFinite else { throw LBFGSError(message: "the objective returned \(f) at evaluation \(evaluations)") }
            return f
        }

        /// f and g at x + t·d (torch `_directional_evaluate`; x itself is left as is).
        mutating func evaluate(step t: Double, along d: [Float], into g: inout [Float]) throws -> Double {
            let n = x.count
            let tf = Float(t)
            x.withUnsafeBufferPointer { xp in
                d.withUnsafeBufferPointer { dp in
                    trial.withUnsafeMutableBufferPointer { tp in
                        for i in 0..<n { tp[i] = xp[i] + tf * dp[i] }
                    }
                }
            }
            let point = trial
            return try evaluate(at: point, into: &g)
        }

        mutating func minimize(context: RunContext) throws -> LBFGSResult {
            let n = x.count
            var g = [Float](repeating: 0, count: n)
            var loss = try evaluate(at: x, into: &g)
            let initialLoss = loss
            if maxAbs(g) <= options.toleranceGrad {
                return LBFGSResult(iterations: 0, evaluations: evaluations, initialLoss: loss, loss: loss, stop: .gradientTolerance)
            }
            var d = [Float](repeating: 0, count: n)
            var t = 0.0
            var dirs: [[Float]] = []   // y
            var steps: [[Float]] = []  // s
            var ro: [Double] = []
            var hDiag = 1.0
            var prevG = g
            var al = [Double](repeating: 0, count: options.historySize)
            var iteration = 0
            var stop = LBFGSStop.maxIterations
            var losses = [loss]  // f at the start, then after every iteration (for `stall`)

            while iteration < options.maxIterations {
                try context.checkCancelled()
                iteration += 1
                if iteration == 1 {
                    for i in 0..<n { d[i] = -g[i] }
                } else {
                    var y = [Float](repeating: 0, count: n)
                    var s = [Float](repeating: 0, count: n)
                    let tf = Float(t)
                    for i in 0..<n {
                        y[i] = g[i] - prevG[i]
                        s[i] = d[i] * tf
                    }
                    let ys = dot(y, s)
                    if ys > 1e-10 {
                        if dirs.count == options.historySize {
                            dirs.removeFirst()
                            steps.removeFirst()
                            ro.removeFirst()
                        }
                        dirs.append(y)
                        steps.append(s)
                        ro.append(1 / ys)
                        hDiag = ys / dot(y, y)
                    }
                    // Two-loop recursion on one buffer: d = −H·g.
                    var q = g
                    for i in 0..<q.count { q[i] = -q[i] }
                    for i in stride(from: dirs.count - 1, through: 0, by: -1) {
                        al[i] = dot(steps[i], q) * ro[i]
                        axpy(-al[i], dirs[i], &q)
                    }
                    let h = Float(hDiag)
                    for i in 0..<n { q[i] *= h }
                    for i in 0..<dirs.count {
                        let be = dot(dirs[i], q) * ro[i]
                        axpy(al[i] - be, steps[i], &q)
                    }
                    d = q
                }
                prevG = g
                let prevLoss = loss

                let gtd = dot(g, d)
                t = iteration == 1 ? firstStep(loss: loss, gradient: g, direction: d, gtd: gtd) : options.learningRate
                if gtd > -options.toleranceChange {
                    stop = .noDescent  // torch counts this iteration: n_iter was already incremented
                    // Reported too, at the loss it stayed at: a run that stops here at its first iteration
                    // (a flat image) otherwise left its job's progress at iteration 0 with no loss.
                    context.report(StepProgress(step: iteration, total: options.maxIterations, loss: loss))
                    break
                }
                var lsCap = options.maxEvaluations - evaluations
                if let cap = options.maxLineSearchEvaluations { lsCap = min(lsCap, cap) }
                let search = try strongWolfe(t: t, d: d, f: loss, g: g, gtd: gtd, maxLineSearch: lsCap)
                loss = search.f
                g = search.g
                t = search.t
                // x += t·d
                let tf = Float(t)
                for i in 0..<n { x[i] += tf * d[i] }
                let optimal = maxAbs(g) <= options.toleranceGrad
                context.report(StepProgress(step: iteration, total: options.maxIterations, loss: loss))

                if iteration == options.maxIterations { stop = .maxIterations; break }
                if evaluations >= options.maxEvaluations { stop = .maxEvaluations; break }
                if optimal { stop = .gradientTolerance; break }
                var stepMax = 0.0
                for i in 0..<n { stepMax = max(stepMax, Double(abs(d[i] * tf))) }
                if stepMax <= options.toleranceChange { stop = .stepTolerance; break }
                if abs(loss - prevLoss) < options.toleranceChange { stop = .lossTolerance; break }
                losses.append(loss)
                if let stall = options.stall, stall.isStalled(losses) { stop = .stalled; break }
            }
            return LBFGSResult(iterations: iteration, evaluations: evaluations, initialLoss: initialLoss, loss: loss, stop: stop)
        }

        func firstStep(loss: Double, gradient g: [Float], direction d: [Float], gtd: Double) -> Double {
            let torch = min(1, 1 / sumAbs(g)) * options.learningRate
            guard case let .lossFraction(fraction, largestChange) = options.firstStep, loss > 0, gtd < 0 else { return torch }
            var t = fraction * loss / -gtd * options.learningRate
            let dMax = maxAbs(d)
            if dMax > 0 { t = min(t, largestChange / dMax) }
            return t.isFinite && t > 0 ? t : torch
        }

        /// torch `_strong_wolfe`: bracketing, then zoom by safeguarded cubic interpolation. Returns the
        /// accepted step with its f and g.
        mutating func strongWolfe(t startStep: Double, d: [Float], f: Double, g: [Float], gtd: Double,
                                  maxLineSearch maxLS: Int) throws -> (f: Double, g: [Float], t: Double) {
            let c1 = options.c1, c2 = options.c2
            let dNorm = maxAbs(d)
            var t = startStep
            var gNew = [Float](repeating: 0, count: g.count)
            var fNew = try evaluate(step: t, along: d, into: &gNew)
            var gtdNew = dot(gNew, d)

            var tPrev = 0.0, fPrev = f, gPrev = g, gtdPrev = gtd
            var done = false
            var lsIter = 0
            var bracket: [Double] = []
            var bracketF: [Double] = []
            var bracketG: [[Float]] = []
            var bracketGtd: [Double] = []
            while lsIter < maxLS {
                if fNew > f + c1 * t * gtd || (lsIter > 1 && fNew >= fPrev) {
                    bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew]
                    break
                }
                if abs(gtdNew) <= -c2 * gtd {
                    bracket = [t]; bracketF = [fNew]; bracketG = [gNew]
                    done = true
                    break
                }
                if gtdNew >= 0 {
                    bracket = [tPrev, t]; bracketF = [fPrev, fNew]; bracketG = [gPrev, gNew]; bracketGtd = [gtdPrev, gtdNew]
                    break
                }
                // Extrapolate within [t + 0.01 (t − t_prev), 10 t].
                let minStep = t + 0.01 * (t - tPrev)
                let maxStep = t * 10
                let previous = t
                t = cubicInterpolate(tPrev, fPrev, gtdPrev, t, fNew, gtdNew, bounds: (minStep, maxStep))
                tPrev = previous
                fPrev = fNew
                gPrev = gNew
                gtdPrev = gtdNew
                fNew = try evaluate(step: t, along: d, into: &gNew)
                gtdNew = dot(gNew, d)
                lsIter += 1
            }
            if lsIter == maxLS {
                bracket = [0, t]; bracketF = [f, fNew]; bracketG = [g, gNew]
            }

            var insufficientProgress = false
            var low = bracketF[0] <= bracketF[bracketF.count - 1] ? 0 : 1
            var high = 1 - low
            while !done && lsIter < maxLS {
                if abs(bracket[1] - bracket[0]) * dNorm < options.lineSearchToleranceChange { break }
                t = cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1], bounds: nil)
                // Keep t at least 10 % of the bracket away from its ends when progress is slow.
                let hi = max(bracket[0], bracket[1]), lo = min(bracket[0], bracket[1])
                let eps = 0.1 * (hi - lo)
                if min(hi - t, t - lo) < eps {
                    if insufficientProgress || t >= hi || t <= lo {
                        t = abs(t - hi) < abs(t - lo) ? hi - eps : lo + eps
                        insufficientProgress = false
                    } else {
                        insufficientProgress = true
                    }
                } else {
                    insufficientProgress = false
                }
                fNew = try evaluate(step: t, along: d, into: &gNew)
                gtdNew = dot(gNew, d)
                lsIter += 1

                if fNew > f + c1 * t * gtd || fNew >= bracketF[low] {
                    bracket[high] = t; bracketF[high] = fNew; bracketG[high] = gNew; bracketGtd[high] = gtdNew
                    low = bracketF[0] <= bracketF[1] ? 0 : 1
                    high = 1 - low
                } else {
                    if abs(gtdNew) <= -c2 * gtd {
                        done = true
                    } else if gtdNew * (bracket[high] - bracket[low]) >= 0 {
                        bracket[high] = bracket[low]; bracketF[high] = bracketF[low]
                        bracketG[high] = bracketG[low]; bracketGtd[high] = bracketGtd[low]
                    }
                    bracket[low] = t; bracketF[low] = fNew; bracketG[low] = gNew; bracketGtd[low] = gtdNew
                }
            }
            return (bracketF[low], bracketG[low], bracket[low])
        }
    }

    /// Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds` (default: the
    /// interval between the points); the midpoint when the cubic has no real minimiser. torch's
    /// `_cubic_interpolate` (from torch/optim's polyinterp.lua).
    static func cubicInterpolate(_ x1: Double, _ f1: Double, _ g1: Double, _ x2: Double, _ f2: Double, _ g2: Double,
                                 bounds: (Double, Double)?) -> Double {
        let (lo, hi) = bounds ?? (x1 <= x2 ? (x1, x2) : (x2, x1))
        let d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        let d2Square = d1 * d1 - g1 * g2
        if d2Square >= 0 {
            let d2 = d2Square.squareRoot()
            let minPos = x1 <= x2
                ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
            return min(max(minPos, lo), hi)
        }
        return (lo + hi) / 2
    }

    // MARK: - Vector helpers (Float vectors, Double accumulation)

    static func dot(_ a: [Float], _ b: [Float]) -> Double {
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in cblas_dsdot(blasint(ap.count), ap.baseAddress, 1, bp.baseAddress, 1) }
        }
    }

    /// y += α·x (α rounded to Float, as torch's `add_(alpha=)` on a float tensor).
    static func axpy(_ alpha: Double, _ x: [Float], _ y: inout [Float]) {
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                cblas_saxpy(blasint(xp.count), Float(alpha), xp.baseAddress, 1, yp.baseAddress, 1)
            }
        }
    }

    static func maxAbs(_ a: [Float]) -> Double {
        var m: Float = 0
        for v in a { m = max(m, abs(v)) }
        return Double(m)
    }

    static func sumAbs(_ a: [Float]) -> Double {
        var s = 0.0
        for v in a { s += Double(abs(v)) }
        return s
    }
}
