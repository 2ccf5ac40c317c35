/// A structural problem in a model: bad indices, shapes that do not fit, unknown tasks.
public struct ModelError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problem, in words, naming the node, tensor or task involved.
    public var message: String

    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
