import Foundation
import Testing
@testable import MTZCore

/// Models that ask for absurd resources are refused by `Model.validate()` (and so by the reader)
/// with a message naming the limit, before anything of that size is allocated: the weights in these
/// models are a few floats, so any attempt to honour the request would fail loudly.
@Suite("Limits")
struct LimitsTests {
    /// input `width × height × 1` → `body` → softmax-free task on the last node.
    static func model(width: Int = 4, height: Int = 4, weights: [WeightTensor] = [], body: [Node]) -> Model {
        let nodes = [Node(name: "in", op: .input, inputs: [])] + body
        return Model(input: InputSpec(width: width, height: height, format: .gray, mean: [0], std: [1]),
                     nodes: nodes, weights: weights, tasks: [TaskHead(name: "t", output: nodes.count - 1, labels: [])])
    }

    /// The `ModelError` message `validate()` throws, and the `FormatError` the reader reports for
    /// the same model written out unvalidated.
    static func refusal(_ model: Model) -> (validate: String?, read: FormatError?) {
        var message: String?
        do { _ = try model.validate() } catch { message = error.message }
        var read: FormatError?
        do { _ = try ModelFile.decode(ModelWriter.encode(model)) } catch { read = error as? FormatError }
        return (message, read)
    }

    @Test("a convolution with 2^31 output channels names the value-size limit")
    func hugeConvolution() {
        let conv = Conv2D(window: .square(1), outChannels: 1 << 31, weight: 0, bias: nil)
        let m = Self.model(weights: [WeightTensor(name: "w", shape: [1, 1, 1, 1], values: [1])],
                           body: [Node(name: "conv", op: .conv2d(conv), inputs: [ValueRef(0)])])
        let (message, read) = Self.refusal(m)
        #expect(message?.contains("node 'conv'") == true && message?.contains("ModelLimits.maxValueElements") == true, "\(message ?? "accepted")")
        #expect(read?.kind == .invalidModel && read?.message.contains("ModelLimits.maxValueElements") == true)
    }

    @Test("a fully connected layer with 2^40 outputs names the value-size limit")
    func hugeFullyConnected() {
        let fc = FullyConnected(outFeatures: 1 << 40, weight: 0, bias: nil)
        let m = Self.model(width: 1, height: 1, weights: [WeightTensor(name: "w", shape: [1, 1], values: [1])],
                           body: [Node(name: "fc", op: .fullyConnected(fc), inputs: [ValueRef(0)])])
        let message = Self.refusal(m).validate
        #expect(message?.contains("ModelLimits.maxValueElements") == true, "\(message ?? "accepted")")
    }

    @Test("an input of 1e6 x 1e6 pixels names the input-extent limit")
    func hugeInput() {
        let m = Self.model(width: 1_000_000, height: 1_000_000, body: [Node(name: "r", op: .activation(.relu), inputs: [ValueRef(0)])])
        let (message, read) = Self.refusal(m)
        #expect(message?.contains("ModelLimits.maxInputExtent") == true, "\(message ?? "accepted")")
        #expect(read?.kind == .invalidModel)
    }

    @Test("values that each fit but together exceed 4 GiB name the total limit")
    func tooManyLargeValues() {
        // A 16384 x 16384 gray input is exactly maxValueElements; five such values are over the total.
        let side = ModelLimits.maxInputExtent
        let body = (1...4).map { Node(name: "r\($0)", op: .activation(.relu), inputs: [ValueRef($0 - 1)]) }
        let m = Self.model(width: side, height: side, body: body)
        let message = Self.refusal(m).validate
        #expect(message?.contains("ModelLimits.maxTotalValueElements") == true, "\(message ?? "accepted")")
        // Four of them are allowed.
        #expect(throws: Never.self) { _ = try Self.model(width: side, height: side, body: Array(body.prefix(3))).validate() }
    }

    @Test("more nodes than ModelLimits.maxNodes are refused, by the validator and by the reader's count")
    func tooManyNodes() {
        let body = (1...ModelLimits.maxNodes).map { Node(name: "r\($0)", op: .activation(.relu), inputs: [ValueRef($0 - 1)]) }
        let (message, read) = Self.refusal(Self.model(body: body))
        #expect(message?.contains("too many nodes") == true && message?.contains("\(ModelLimits.maxNodes)") == true, "\(message ?? "accepted")")
        #expect(read?.kind == .limit && read?.section == "GRPH", "\(String(describing: read))")
    }

    @Test("cycles, self references and forward references are refused", arguments: [(1, 1), (1, 2), (2, 1), (2, 7)])
    func notTopological(node: Int, reads source: Int) {
        var body = (1...3).map { Node(name: "r\($0)", op: .activation(.relu), inputs: [ValueRef($0 - 1)]) }
        body[node - 1].inputs = [ValueRef(source)]
        if node == 2, source == 1 { body[0].inputs = [ValueRef(2)] }  // r1 <-> r2
        let (message, read) = Self.refusal(Self.model(body: body))
        #expect(message?.contains("not an earlier node") == true, "\(message ?? "accepted")")
        #expect(read?.kind == .invalidModel)
    }

    @Test("optimizing a long conv -> relu chain takes linear time and fuses every relu")
    func longChainOptimizesQuickly() throws {
        // 16385 nodes, every conv sharing one 1x1 weight: a file of about 2 MB. Restarting the
        // fusion pass after every fusion took minutes here (quadratic); one pass takes well under a second.
        let pairs = 8192
        var nodes = [Node(name: "in", op: .input, inputs: [])]
        for k in 0..<pairs {
            nodes.append(Node(name: "c\(k)", op: .conv2d(Conv2D(window: .square(1), outChannels: 1, weight: 0, bias: nil)),
                              inputs: [ValueRef(nodes.count - 1)]))
            nodes.append(Node(name: "r\(k)", op: .activation(.relu), inputs: [ValueRef(nodes.count - 1)]))
        }
        let m = Model(input: InputSpec(width: 1, height: 1, format: .gray, mean: [0], std: [1]), nodes: nodes,
                      weights: [WeightTensor(name: "w", shape: [1, 1, 1, 1], values: [1])],
                      tasks: [TaskHead(name: "t", output: nodes.count - 1, labels: [])])
        let start = Date()
        let o = try m.optimized()
        let seconds = -start.timeIntervalSinceNow
        #expect(o.nodes.count == pairs + 1)
        #expect(o.tasks[0].output == pairs)
        #expect(o.nodes.dropFirst().allSatisfy { if case .conv2d(let c) = $0.op { c.activation == .relu } else { false } })
        // Generous for a debug build under a sanitizer on a busy machine; the quadratic pass took >100 s.
        #expect(seconds < 30, "optimized() took \(seconds) s for \(nodes.count) nodes")
    }
}
