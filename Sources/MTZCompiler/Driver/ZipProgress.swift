/// What a progress callback is told while zipping.
public struct ZipProgress: Sendable {
    /// The phase of the current layer.
    public enum Phase: String, Sendable {
        case hessians = "Hessians"
        case pairing = "pairing"
        case retraining = "retraining"
        case validating = "validating"
        /// Distillation: the original networks are run once over their retraining images
        /// (`layer` is the task, `iteration` the images done of `iterations`).
        case teaching = "teacher outputs"
        /// Automatic mode: a candidate was retrained with the whole budget and judged.
        case judged = "judged"
        /// Retraining diverged and starts again from the same state at `learningRate`, a third of
        /// `divergedLearningRate`.
        case restarting = "restarting"
    }

    public var layer: String
    public var layerIndex: Int
    public var layerCount: Int
    public var phase: Phase
    /// Retraining iteration (when `phase == .retraining`).
    public var iteration: Int
    public var iterations: Int
    /// Validation error per task, once known for this layer (or candidate, when judged).
    public var errors: [String: Double]
    /// Automatic mode: the candidate being zipped (1-based; 0 in the fixed mode), at most how many
    /// are tried, and what it shares (e.g. "every layer 6/8").
    public var candidate = 0
    public var candidateLimit = 0
    public var candidateLabel = ""
    /// When a candidate is judged: whether every task stayed within the error budget.
    public var withinBudget: Bool? = nil
    /// When a candidate is judged: why it could not be (its retraining diverged), if so.
    public var failure: String? = nil
    /// When retraining restarts (`.restarting`): the learning rate that diverged and the new one.
    public var divergedLearningRate: Float? = nil
    public var learningRate: Float? = nil
}
