/// The NHWC shape (batch 1) of a value flowing through the graph.
public struct ValueShape: Sendable, Hashable, Codable, CustomStringConvertible {
    public var height: Int
    public var width: Int
    public var channels: Int

    /// Creates a shape.
    public init(height: Int, width: Int, channels: Int) {
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// Number of pixels (`height × width`).
    public var pixels: Int { height * width }
    /// Number of elements.
    public var elementCount: Int { height * width * channels }

    public var description: String { "\(height)x\(width)x\(channels)" }
}
