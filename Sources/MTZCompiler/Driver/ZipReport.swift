/// What `mtz zip` did, layer by layer (written as JSON by `--report`).
public struct ZipReport: Sendable, Codable {
    /// One zipped layer.
    public struct Layer: Sendable, Codable {
        public var name: String
        /// Neurons per task and neurons shared.
        public var neurons: Int
        public var shared: Int
        /// Summary of the accepted pairs' costs d[i,j].
        public var cost: CostSummary?
        /// Hessian damping actually used, per task.
        public var damping: Double
        /// Validation error per task after merging, before retraining (with task batch norms: once
        /// their statistics are recalibrated, which trains nothing), and after retraining.
        public var errorBeforeRetraining: [String: Double]
        public var errorAfterRetraining: [String: Double]
        /// Joint retraining iterations (one mini-batch per task each).
        public var iterations: Int
        public var seconds: Double
        /// In the automatic mode: the shared counts the candidates gave this layer, in the order tried.
        public var candidatesTried: [Int]? = nil
        /// Residual networks: the later layer (tied to this one by a residual add) after whose merge
        /// this layer was validated and retrained; its iterations include this layer's budget.
        public var retrainedWith: String? = nil
        /// The learning rate that retrained this layer when the configured one diverged (each
        /// restart from the layer's merged state divides it by 3); nil when the configured one did.
        public var learningRate: Float? = nil
    }

    /// Cost statistics of the accepted pairs.
    public struct CostSummary: Sendable, Codable {
        public var min: Double
        public var median: Double
        public var max: Double
        public var mean: Double
        /// Cost of the pair accepted at 25, 50, 75 and 100 % of the shared count.
        public var quartiles: [Double]
    }

    /// The joint retraining after the last zipped layer (`ZipOptions.finalIterations`).
    public struct FinalRetraining: Sendable, Codable {
        public var iterations: Int
        public var errorBefore: [String: Double]
        public var errorAfter: [String: Double]
        public var seconds: Double
        /// As `Layer.learningRate`: set when the configured learning rate diverged.
        public var learningRate: Float? = nil
    }

    /// The automatic mode's search (`--max-error-increase`).
    public struct Search: Sendable, Codable {
        /// One candidate: zipped and retrained with the whole budget, then judged on validation images.
        public struct Candidate: Sendable, Codable {
            /// "global" (one level for every layer) or "layer" (one layer raised from the best so far).
            public var phase: String
            public var label: String
            /// Shared neurons per searched layer (layers tied to one of them by a residual add follow it).
            public var shared: [String: Int]
            public var sharedParameters: Int
            /// Validation error per task after the whole retraining.
            public var validationError: [String: Double]
            public var withinBudget: Bool
            /// Retraining iterations run for this candidate (layers resumed from an earlier candidate's
            /// checkpoint not counted) and how many layers it resumed.
            public var iterations: Int
            public var reusedLayers: Int
            public var seconds: Double
            /// Why the candidate could not be judged (its retraining diverged); it counts as over
            /// the budget, with every validation error at 100 %.
            public var failure: String? = nil
        }

        /// The budget, a fraction (0.005 = 0.5 pp).
        public var maxErrorIncrease: Double
        /// The searched layers, in order (the keys of each candidate's `shared`).
        public var layers: [String]
        public var candidateLimit: Int
        public var candidates: [Candidate]
        /// Index in `candidates` of the one kept; nil if none fitted (nothing is shared then).
        public var chosen: Int?
        /// All retraining iterations of the search.
        public var iterations: Int
        public var seconds: Double
    }

    public var method: String
    /// Retraining with distillation from the original networks: the weight of its loss term and its
    /// temperature (nil: labels only, or no retraining).
    public var distillation: Float? = nil
    public var temperature: Float? = nil
    /// True when the task-specific neurons kept batch norms while retraining (`ZipOptions.taskBatchNorms`).
    public var taskBatchNorms: Bool? = nil
    /// True when shared neurons kept batch norms while retraining (`ZipOptions.sharedBatchNorms`).
    public var sharedBatchNorms: Bool? = nil
    public var tasks: [String]
    /// Validation error of each original network.
    public var originalError: [String: Double]
    public var layers: [Layer]
    /// The final retraining, if any.
    public var finalRetraining: FinalRetraining? = nil
    /// Sum of the retraining iterations (per layer and final).
    public var totalIterations: Int
    /// Parameters of the zipped model, shared among them, and of the separate networks.
    public var parameters: Int
    public var sharedParameters: Int
    public var separateParameters: Int
    public var seconds: Double
    /// The automatic mode's candidates and choice.
    public var search: Search? = nil
}
