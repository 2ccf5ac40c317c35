/// A problem importing or exporting an ONNX model: unreadable or corrupt bytes, an operator or
/// attribute the importer does not support, a shape the runtime cannot plan, or an invalid result.
///
/// `description` is one readable line naming the node (ONNX node name, or its first output when
/// unnamed) and the operator where known, e.g.
/// `node 'conv3' (LRN): unsupported operator LRN`.
public struct ONNXError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The category of an ONNX error, for callers that map errors to exit codes.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Reading or writing a file failed.
        case io
        /// The bytes are not a valid ONNX protobuf message (corrupt, truncated, or not ONNX).
        case malformed
        /// The model uses an operator, attribute value, data type or opset the importer does not handle.
        case unsupported
        /// A shape is dynamic or does not fit the runtime's one-image NCHW model.
        case shape
        /// Tensor data is stored in an external file, which the importer does not read.
        case externalData
        /// A size exceeds a limit (checked before allocating).
        case limit
        /// The model built from the ONNX graph (or to be exported) fails `Model.validate()`.
        case invalidModel
    }

    /// What kind of problem this is.
    public var kind: Kind
    /// The problem, in words.
    public var message: String
    /// The ONNX node involved (its name, or its first output when unnamed), if any.
    public var node: String?
    /// The operator type of that node, if any.
    public var op: String?
    /// The file involved, if any.
    public var path: String?

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, node: String? = nil, op: String? = nil, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.node = node
        self.op = op
        self.path = path
    }

    /// One line: `path: node 'name' (Op): message`.
    public var description: String {
        var text = message
        if let node {
            text = "node '\(node)'\(op.map { " (\($0))" } ?? ""): " + text
        } else if let op {
            text = "\(op): " + text
        }
        if let path { text = "\(path): " + text }
        return text
    }

    /// A copy with `path` set (when it was not set already).
    func at(path: String) -> ONNXError {
        var e = self
        if e.path == nil { e.path = path }
        return e
    }

    /// A copy naming `node` and `op` (when no node was named yet).
    func at(node: String, op: String) -> ONNXError {
        var e = self
        if e.node == nil {
            e.node = node
            e.op = op
        }
        return e
    }
}
