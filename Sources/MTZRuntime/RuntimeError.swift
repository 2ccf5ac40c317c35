import MTZCore

/// Errors of loading a model into the runtime or running it.
public enum RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A task name that the model does not have.
    case unknownTask(String, available: [String])
    /// An input buffer of the wrong size.
    case inputSizeMismatch(expected: Int, got: Int)
    /// The model is structurally invalid.
    case invalidModel(String)
    /// Memory for weights or activations could not be allocated.
    case outOfMemory(bytes: Int)
    /// An invalid runtime option (thread count, ISA).
    case invalidOption(String)

    public var description: String {
        switch self {
        case .unknownTask(let name, let available):
            "unknown task '\(name)'; the model has: \(available.joined(separator: ", "))"
        case .inputSizeMismatch(let expected, let got):
            "input has \(got) values, the model expects \(expected)"
        case .invalidModel(let why):
            "invalid model: \(why)"
        case .outOfMemory(let bytes):
            "cannot allocate \(bytes) bytes"
        case .invalidOption(let why):
            why
        }
    }
}
