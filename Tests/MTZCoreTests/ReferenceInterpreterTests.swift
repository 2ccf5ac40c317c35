import Foundation
import MTZCore
import MTZTestSupport
import Testing

/// A one-task model over a `height × width` input (1 channel = gray, 3 = rgb) whose task reads `output`
/// (default: the last node). `weights` are `(shape, values)` pairs, named `w0`, `w1`, ...
private func model(
    height: Int, width: Int, channels: Int = 1, nodes: [Node], weights: [([Int], [Float])] = [], output: Int? = nil
) -> Model {
    let format: InputSpec.ColorFormat = channels == 1 ? .gray : .rgb
    let spec = InputSpec(width: width, height: height, format: format,
                         mean: [Float](repeating: 0, count: channels), std: [Float](repeating: 1, count: channels))
    let tensors = weights.enumerated().map { WeightTensor(name: "w\($0.offset)", shape: $0.element.0, values: $0.element.1) }
    let all = [Node(name: "input", op: .input, inputs: [])] + nodes
    return Model(input: spec, nodes: all, weights: tensors, tasks: [TaskHead(name: "t", output: output ?? all.count - 1, labels: [])])
}

/// The value of the model's single task.
private func run(_ m: Model, _ input: [Float]) throws -> [Float] {
    try #require(try ReferenceInterpreter.outputs(m, input: input)["t"])
}

/// Expects `actual ≈ expected` element by element (relative 1e-6, absolute floor 1e-6).
private func expectClose(_ actual: [Float], _ expected: [Float], sourceLocation: SourceLocation = #_sourceLocation) {
    let c = FloatComparison(actual, expected, absFloor: 1e-6)
    #expect(c.error <= 1e-6, "\(c)", sourceLocation: sourceLocation)
}

private func conv(_ window: Window, out: Int, groups: Int = 1, weight: Int = 0, bias: Int? = nil,
                  activation: Activation = .none, inputs: [ValueRef] = [ValueRef(0)], name: String = "conv") -> Node {
    Node(name: name, op: .conv2d(Conv2D(window: window, outChannels: out, groups: groups, weight: weight, bias: bias, activation: activation)),
         inputs: inputs)
}

/// 1...9 laid out as a 3×3 single-channel image.
private let oneToNine: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]

/// Hand-computed cases for the reference interpreter, plus checks of the model builders and helpers.
@Suite struct ReferenceInterpreterTests {
    @Suite struct Convolution {
        @Test func threeByThreeOnesWithPaddingAndBias() throws {
            let m = model(height: 3, width: 3, nodes: [conv(.square(3, padding: 1), out: 1, bias: 1)],
                          weights: [([1, 3, 3, 1], [Float](repeating: 1, count: 9)), ([1], [1])])
            // Neighbourhood sums of 1...9 with zero padding, plus the bias.
            expectClose(try run(m, oneToNine), [12, 21, 16, 27, 45, 33, 24, 39, 28].map { $0 + 1 })
        }

        @Test func kernelIsCorrelationNotFlipped() throws {
            // Only the top-left tap is set, so out(y, x) = in(y − 1, x − 1).
            let m = model(height: 3, width: 3, nodes: [conv(.square(3, padding: 1), out: 1)],
                          weights: [([1, 3, 3, 1], [1, 0, 0, 0, 0, 0, 0, 0, 0])])
            expectClose(try run(m, oneToNine), [0, 0, 0, 0, 1, 2, 0, 4, 5])
        }

        @Test func strideAndDilation() throws {
            // 5×5 input v = 5y + x; 2×2 ones, dilation 2, stride 2: out = v(2oy,2ox) + v(2oy,2ox+2) + v(2oy+2,2ox) + v(2oy+2,2ox+2).
            let input = (0..<25).map(Float.init)
            let w = Window(kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, dilationH: 2, dilationW: 2)
            let m = model(height: 5, width: 5, nodes: [conv(w, out: 1)], weights: [([1, 2, 2, 1], [1, 1, 1, 1])])
            expectClose(try run(m, input), [24, 32, 64, 72])
        }

        @Test func differentStridesPerAxis() throws {
            // 3×4 input v = 4y + x; 1×1 weight 1, strideH 2, strideW 3: picks (0,0),(0,3),(2,0),(2,3).
            let input = (0..<12).map(Float.init)
            let w = Window(kernelH: 1, kernelW: 1, strideH: 2, strideW: 3)
            let m = model(height: 3, width: 4, nodes: [conv(w, out: 1)], weights: [([1, 1, 1, 1], [1])])
            expectClose(try run(m, input), [0, 3, 8, 11])
        }

        @Test func asymmetricPadding() throws {
            // 1×3 input [1, 2, 3], kernel [1, 10], one zero on the left only.
            let w = Window(kernelH: 1, kernelW: 2, padding: Padding(left: 1))
            let m = model(height: 1, width: 3, nodes: [conv(w, out: 1)], weights: [([1, 1, 2, 1], [1, 10])])
            expectClose(try run(m, [1, 2, 3]), [10, 21, 32])
            // Bottom/right padding of 2 on a 2×1 input with a 3×1 kernel [1, 2, 3]: outputs at y = 0, 1.
            let w2 = Window(kernelH: 3, kernelW: 1, padding: Padding(bottom: 2))
            let m2 = model(height: 2, width: 1, nodes: [conv(w2, out: 1)], weights: [([1, 3, 1, 1], [1, 2, 3])])
            expectClose(try run(m2, [5, 7]), [5 + 14, 7])
        }

        @Test func multipleChannelsUseOHWILayout() throws {
            // rgb 1×2 input, 1×2 kernel, 2 outputs: weight[o][0][kx][c].
            let weight: [Float] = [1, 2, 3, 4, 5, 6,         // o = 0: kx 0 (c 0..2), kx 1 (c 0..2)
                                   0, 0, 1, -1, 0, 0]        // o = 1: picks c 2 at kx 0 minus c 0 at kx 1
            let input: [Float] = [1, 10, 100, 2, 20, 200]    // pixel 0 then pixel 1, channels interleaved
            let m = model(height: 1, width: 2, channels: 3, nodes: [conv(Window(kernelH: 1, kernelW: 2), out: 2)],
                          weights: [([2, 1, 2, 3], weight)])
            expectClose(try run(m, input), [1 + 20 + 300 + 8 + 100 + 1200, 100 - 2])
        }

        @Test func groupsAndDepthwise() throws {
            // rgb 1×1 [1, 2, 3] -> concat with channel 0 -> [1, 2, 3, 1] (4 channels).
            let cat = Node(name: "cat", op: .concat, inputs: [ValueRef(0), ValueRef(0, channelCount: 1)])
            // groups 2, 4 outputs: group 0 (outs 0, 1) reads channels 0, 1; group 1 (outs 2, 3) reads 2, 3.
            let grouped = conv(.square(1), out: 4, groups: 2, inputs: [ValueRef(1)], name: "g")
            let gm = model(height: 1, width: 1, channels: 3, nodes: [cat, grouped],
                           weights: [([4, 1, 1, 2], [1, 1, 1, -1, 2, 0, 10, 1])])
            expectClose(try run(gm, [1, 2, 3]), [3, -1, 6, 31])
            // Depthwise: groups = channels = 4, one weight per channel.
            let dw = conv(.square(1), out: 4, groups: 4, inputs: [ValueRef(1)], name: "dw")
            let dm = model(height: 1, width: 1, channels: 3, nodes: [cat, dw], weights: [([4, 1, 1, 1], [1, 2, 3, 4])])
            expectClose(try run(dm, [1, 2, 3]), [1, 4, 9, 4])
        }

        @Test func depthwiseSpatial() throws {
            // Two channels of a 1×3 input, 1×3 depthwise kernels [1, 0, -1] and [0, 2, 0], padding 1 left/right.
            let cat = Node(name: "cat", op: .concat, inputs: [ValueRef(0), ValueRef(0)])
            let dw = conv(Window(kernelH: 1, kernelW: 3, padding: Padding(left: 1, right: 1)), out: 2, groups: 2, inputs: [ValueRef(1)])
            let m = model(height: 1, width: 3, nodes: [cat, dw], weights: [([2, 1, 3, 1], [1, 0, -1, 0, 2, 0])])
            // channel 0: x[i-1] - x[i+1]; channel 1: 2·x[i]; interleaved per pixel.
            expectClose(try run(m, [1, 2, 4]), [-2, 2, 1 - 4, 4, 2, 8])
        }

        @Test func convWithAddendAppliesActivationAfterTheSum() throws {
            // 1×2 gray input [1, 2]; part = 3·x + 1 = [4, 7]; acc = act(w·x + part) with w = −2, then w = −5.
            let part = conv(.square(1), out: 1, weight: 0, bias: 1, name: "part")
            let acc = conv(.square(1), out: 1, weight: 2, activation: .relu, inputs: [ValueRef(0), ValueRef(1)], name: "acc")
            let accLinear = conv(.square(1), out: 1, weight: 2, inputs: [ValueRef(0), ValueRef(1)], name: "accLinear")
            let m = model(height: 1, width: 2, nodes: [part, acc, accLinear],
                          weights: [([1, 1, 1, 1], [3]), ([1], [1]), ([1, 1, 1, 1], [-2])])
            let values = try ReferenceInterpreter.run(m, input: [1, 2])
            expectClose(values[1], [4, 7])
            expectClose(values[2], [2, 3])          // relu(−2·x + part) = relu([2, 3])
            expectClose(values[3], [2, 3])
            let m2 = model(height: 1, width: 2, nodes: [part, acc],
                           weights: [([1, 1, 1, 1], [3]), ([1], [1]), ([1, 1, 1, 1], [-5])])
            expectClose(try run(m2, [1, 2]), [0, 0])  // relu(−5 + 4), relu(−10 + 7): not relu(−5x) + part
        }

        @Test func convReadsAChannelSlice() throws {
            // rgb 1×1 [1, 2, 3]; conv over channels 1..<3 with weights [10, 100].
            let c = conv(.square(1), out: 1, inputs: [ValueRef(0, channelOffset: 1, channelCount: 2)])
            let m = model(height: 1, width: 1, channels: 3, nodes: [c], weights: [([1, 1, 1, 2], [10, 100])])
            expectClose(try run(m, [1, 2, 3]), [320])
        }
    }

    @Suite struct Pooling {
        @Test func maxPoolIgnoresPadding() throws {
            // All values negative: if padding counted as 0 every output would be 0.
            let p = Node(name: "mp", op: .maxPool(Pool(window: .square(3, stride: 2, padding: 1))), inputs: [ValueRef(0)])
            let m = model(height: 3, width: 3, nodes: [p])
            expectClose(try run(m, oneToNine.map { -$0 }), [-1, -2, -4, -5])
            expectClose(try run(m, oneToNine), [5, 6, 8, 9])
        }

        @Test func averagePoolInBothPaddingModes() throws {
            // 3×3 window, stride 2, padding 1 over 1...9: windows hold {1,2,4,5}, {2,3,5,6}, {4,5,7,8}, {5,6,8,9}.
            let sums: [Float] = [12, 16, 24, 28]
            for includePad in [true, false] {
                let p = Node(name: "ap", op: .averagePool(Pool(window: .square(3, stride: 2, padding: 1), countIncludePad: includePad)),
                             inputs: [ValueRef(0)])
                let m = model(height: 3, width: 3, nodes: [p])
                expectClose(try run(m, oneToNine), sums.map { $0 / (includePad ? 9 : 4) })
            }
        }

        @Test func averagePoolAsymmetricWindowAndPadding() throws {
            // 2×3 input [[1,2,3],[4,5,6]], window 2×2, stride 1, padding right 1 -> 1×3 output.
            let w = Window(kernelH: 2, kernelW: 2, padding: Padding(right: 1))
            let input: [Float] = [1, 2, 3, 4, 5, 6]
            let excl = model(height: 2, width: 3, nodes: [Node(name: "ap", op: .averagePool(Pool(window: w)), inputs: [ValueRef(0)])])
            expectClose(try run(excl, input), [3, 4, 4.5])
            let inclPool = Node(name: "ap", op: .averagePool(Pool(window: w, countIncludePad: true)), inputs: [ValueRef(0)])
            let incl = model(height: 2, width: 3, nodes: [inclPool])
            expectClose(try run(incl, input), [3, 4, 2.25])
        }

        @Test func globalAveragePoolPerChannel() throws {
            // rgb 1×2: pixel 0 [1, 2, 3], pixel 1 [3, 6, -3].
            let m = model(height: 1, width: 2, channels: 3, nodes: [Node(name: "gap", op: .globalAveragePool, inputs: [ValueRef(0)])])
            expectClose(try run(m, [1, 2, 3, 3, 6, -3]), [2, 4, 0])
        }
    }

    @Suite struct OtherOps {
        @Test func addWithReluOfSlices() throws {
            // rgb 1×1 [1, −5, 2]: add(relu)(channels 0..<1, channels 1..<2) and add(none)(ch 1, ch 2).
            let a = Node(name: "a", op: .add(.relu), inputs: [ValueRef(0, channelCount: 1), ValueRef(0, channelOffset: 1, channelCount: 1)])
            let b = Node(name: "b", op: .add(.none), inputs: [ValueRef(0, channelOffset: 1, channelCount: 1), ValueRef(0, channelOffset: 2)])
            let m = model(height: 1, width: 1, channels: 3, nodes: [a, b])
            let values = try ReferenceInterpreter.run(m, input: [1, -5, 2])
            expectClose(values[1], [0])
            expectClose(values[2], [-3])
        }

        @Test func concatInterleavesChannelsPerPixel() throws {
            // rgb 2×1: pixel 0 [1, 2, 3], pixel 1 [4, 5, 6]; concat(ch 2, all, ch 0..<2).
            let cat = Node(name: "cat", op: .concat,
                           inputs: [ValueRef(0, channelOffset: 2), ValueRef(0), ValueRef(0, channelOffset: 0, channelCount: 2)])
            let m = model(height: 2, width: 1, channels: 3, nodes: [cat])
            expectClose(try run(m, [1, 2, 3, 4, 5, 6]), [3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5])
        }

        @Test func flattenIsHWCOrderAndFeedsFC() throws {
            // rgb 2×2, value = index; flatten keeps (h, w, c) order; FC picks (y 1, x 0, c 2) = index 8 and sums all.
            let input = (0..<12).map(Float.init)
            let flat = Node(name: "flat", op: .flatten, inputs: [ValueRef(0)])
            var pick = [Float](repeating: 0, count: 12)
            pick[(1 * 2 + 0) * 3 + 2] = 1
            let fc = Node(name: "fc", op: .fullyConnected(FullyConnected(outFeatures: 2, weight: 0, bias: 1)), inputs: [ValueRef(1)])
            let m = model(height: 2, width: 2, channels: 3, nodes: [flat, fc],
                          weights: [([2, 12], pick + [Float](repeating: 1, count: 12)), ([2], [0.5, -66])])
            let values = try ReferenceInterpreter.run(m, input: input)
            expectClose(values[1], input)
            expectClose(values[2], [8.5, 0])
        }

        @Test func fullyConnectedWithAddend() throws {
            // gray 1×2 [1, 2] flattened; part = [1, 1]·x + 0.5 = 3.5; acc = relu([−5, 0]·x + part) = 0; lin = [2, −1]·x + part = 3.5.
            let flat = Node(name: "flat", op: .flatten, inputs: [ValueRef(0)])
            let part = Node(name: "part", op: .fullyConnected(FullyConnected(outFeatures: 1, weight: 0, bias: 1)), inputs: [ValueRef(1)])
            let acc = Node(name: "acc", op: .fullyConnected(FullyConnected(outFeatures: 1, weight: 2, bias: nil, activation: .relu)),
                           inputs: [ValueRef(1), ValueRef(2)])
            let lin = Node(name: "lin", op: .fullyConnected(FullyConnected(outFeatures: 1, weight: 3, bias: nil)), inputs: [ValueRef(1), ValueRef(2)])
            let m = model(height: 1, width: 2, nodes: [flat, part, acc, lin],
                          weights: [([1, 2], [1, 1]), ([1], [0.5]), ([1, 2], [-5, 0]), ([1, 2], [2, -1])])
            let values = try ReferenceInterpreter.run(m, input: [1, 2])
            expectClose(values[2], [3.5])
            expectClose(values[3], [0])
            expectClose(values[4], [3.5])
        }

        @Test func softmaxValuesAndStability() throws {
            let soft = Node(name: "soft", op: .softmax, inputs: [ValueRef(0)])
            let m = model(height: 1, width: 1, channels: 3, nodes: [soft])
            let e = [1.0, 2.0, 3.0].map { Foundation.exp($0) }
            let total = e.reduce(0, +)
            expectClose(try run(m, [1, 2, 3]), e.map { Float($0 / total) })
            // Large logits must not overflow: exp is taken after subtracting the maximum.
            let big = try run(m, [1000, 1000, -1000])
            expectClose(big, [0.5, 0.5, 0])
            #expect(big.allSatisfy { $0.isFinite })
        }

        @Test func batchNormScalesAndShiftsPerChannel() throws {
            // rgb 1×2: pixel 0 [1, 2, 3], pixel 1 [0, −2, 1]; scale [2, 0.5, −1], shift [1, 0, 0.5].
            let bn = Node(name: "bn", op: .batchNorm(scale: 0, shift: 1), inputs: [ValueRef(0)])
            let m = model(height: 1, width: 2, channels: 3, nodes: [bn], weights: [([3], [2, 0.5, -1]), ([3], [1, 0, 0.5])])
            expectClose(try run(m, [1, 2, 3, 0, -2, 1]), [3, 1, -2.5, 1, -1, -0.5])
        }

        @Test(arguments: Activation.allCases)
        func standaloneActivation(_ activation: Activation) throws {
            // gray 1×6 input.
            let input: [Float] = [-7, -1, 0, 0.5, 3, 8]
            let expected: [Float] = switch activation {
            case .none: input
            case .relu: [0, 0, 0, 0.5, 3, 8]
            case .relu6: [0, 0, 0, 0.5, 3, 6]
            case .sigmoid: input.map { Float(1 / (1 + Foundation.exp(-Double($0)))) }
            case .tanh: input.map { Float(Foundation.tanh(Double($0))) }
            }
            let m = model(height: 1, width: 6, nodes: [Node(name: "act", op: .activation(activation), inputs: [ValueRef(0)])])
            expectClose(try run(m, input), expected)
            // The same activation fused into a 1×1 identity conv gives the same values.
            let fused = model(height: 1, width: 6, nodes: [conv(.square(1), out: 1, activation: activation)], weights: [([1, 1, 1, 1], [1])])
            expectClose(try run(fused, input), expected)
        }

        @Test func sigmoidAndTanhSpotValues() {
            #expect(ReferenceInterpreter.apply(.sigmoid, to: 0) == 0.5)
            #expect(abs(ReferenceInterpreter.apply(.sigmoid, to: 2) - 0.8807970779778823) < 1e-12)
            #expect(abs(ReferenceInterpreter.apply(.tanh, to: 1) - 0.7615941559557649) < 1e-12)
            #expect(ReferenceInterpreter.apply(.relu6, to: 6.5) == 6)
        }
    }

    @Suite struct Errors {
        @Test func wrongInputSizeThrows() {
            let m = model(height: 3, width: 3, nodes: [Node(name: "act", op: .activation(.relu), inputs: [ValueRef(0)])])
            #expect(throws: ModelError.self) { try ReferenceInterpreter.run(m, input: [1, 2, 3]) }
        }

        @Test func invalidModelThrows() {
            // The conv weight has the wrong shape.
            let m = model(height: 3, width: 3, nodes: [conv(.square(3), out: 1)], weights: [([1, 2, 2, 1], [1, 1, 1, 1])])
            #expect(throws: ModelError.self) { try ReferenceInterpreter.run(m, input: oneToNine) }
        }
    }

    @Suite struct RandomModelBuilders {
        static let builders: [(String, @Sendable (UInt64) -> Model)] = [
            ("everyOp", { RandomModels.everyOp(seed: $0) }),
            ("zippedTwoTask", { RandomModels.zippedTwoTask(seed: $0) }),
            ("convNet", { RandomModels.convNet(seed: $0, inputSize: 16, channels: [4, 8], convsPerStage: 1, taskClasses: [3, 2, 5]) }),
            ("demo", { _ in DemoModel.make() }),
        ]

        @Test(arguments: 0..<builders.count)
        func validatesRunsAndIsDeterministic(_ i: Int) throws {
            let (name, make) = Self.builders[i]
            let m = make(7)
            let shapes = try m.validate()
            let input = RandomModels.input(for: m, seed: 11)
            let outputs = try ReferenceInterpreter.outputs(m, input: input)
            #expect(outputs.count == m.tasks.count, "\(name)")
            for task in m.tasks {
                let out = try #require(outputs[task.name])
                #expect(out.count == shapes[task.output].elementCount)
                #expect(out.count == task.labels.count)
                #expect(out.allSatisfy { $0.isFinite && $0 >= 0 && $0 <= 1 }, "\(name)/\(task.name): \(out)")
                #expect(abs(out.reduce(0, +) - 1) < 1e-5, "\(name)/\(task.name) softmax sums to \(out.reduce(0, +))")
            }
            // All values finite, and the same seed gives the same model and values.
            let values = try ReferenceInterpreter.run(m, input: input)
            #expect(values.allSatisfy { $0.allSatisfy { $0.isFinite } }, "\(name)")
            let again = try ReferenceInterpreter.run(make(7), input: input)
            #expect(values == again, "\(name) is not deterministic")
        }

        @Test func differentSeedsGiveDifferentWeights() {
            let a = RandomModels.everyOp(seed: 1), b = RandomModels.everyOp(seed: 2)
            #expect(a.weights.count == b.weights.count)
            #expect(a.weights[0].values.array != b.weights[0].values.array)
            #expect(a.weights[0].values.array == RandomModels.everyOp(seed: 1).weights[0].values.array)
        }

        @Test func everyOpCoversEveryOpAndFeature() throws {
            let m = RandomModels.everyOp(seed: 3)
            #expect(m.input.width != m.input.height)
            let names = Set(m.nodes.map(\.op.name))
            for op in ["input", "conv", "gconv", "dwconv", "fc", "relu", "relu6", "sigmoid", "tanh", "maxpool", "avgpool",
                       "gavgpool", "add", "concat", "flatten", "softmax", "batchnorm"] {
                #expect(names.contains(op), "missing \(op)")
            }
            var convs: [Conv2D] = [], pools: [Pool] = []
            var fcAddends = 0, convAddends = 0, slices = 0
            for node in m.nodes {
                slices += node.inputs.filter { $0.channelOffset != 0 || $0.channelCount != nil }.count
                switch node.op {
                case .conv2d(let c):
                    convs.append(c)
                    if node.inputs.count == 2 { convAddends += 1 }
                case .fullyConnected:
                    if node.inputs.count == 2 { fcAddends += 1 }
                case .averagePool(let p): pools.append(p)
                default: break
                }
            }
            #expect(convs.contains { $0.window.strideH == 2 })
            #expect(convs.contains { $0.window.dilationH == 2 })
            #expect(convs.contains { $0.window.padding.top != $0.window.padding.bottom || $0.window.padding.left != $0.window.padding.right })
            #expect(convs.contains { $0.groups == 2 })
            #expect(convs.contains { $0.window.kernelH == 1 && $0.window.kernelW == 1 })
            #expect(convs.contains { $0.bias == nil } && convs.contains { $0.bias != nil })
            #expect(Set(convs.map(\.activation)).count >= 4)
            #expect(Set(pools.map(\.countIncludePad)) == [true, false])
            #expect(convAddends >= 2 && fcAddends >= 2)
            #expect(slices >= 5)
            // Zipped layers group their nodes under one layer name.
            #expect(m.nodes.filter { $0.layer == "conv7" }.count == 3)
            #expect(m.nodes.filter { $0.layer == "fc8" }.count == 3)
            #expect(m.tasks.map(\.name) == ["a", "b"])
        }

        @Test func zippedTwoTaskHasSharedPartialAndPerTaskAccumulate() throws {
            let m = RandomModels.zippedTwoTask(seed: 5)
            let byName = Dictionary(uniqueKeysWithValues: m.nodes.enumerated().map { ($0.element.name, $0.offset) })
            let shared = try #require(byName["conv4/shared"])
            for task in ["a", "b"] {
                let node = m.nodes[try #require(byName["conv4/\(task)"])]
                #expect(node.layer == "conv4")
                #expect(node.inputs.count == 2 && node.inputs[1].node == shared)
                guard case .conv2d(let c) = node.op else { Issue.record("conv4/\(task) is not a conv"); continue }
                #expect(c.activation == .relu)
            }
            guard case .conv2d(let s) = m.nodes[shared].op else { Issue.record("conv4/shared is not a conv"); return }
            #expect(s.activation == .none)
        }

        @Test func zippedLayerEqualsOneConvOverTheConcatenatedInput() throws {
            // conv4/a (accumulating into conv4/shared) must equal relu(conv over [shared | specific] channels
            // with the two weight blocks side by side) — the identity the zipped layout relies on.
            let m = RandomModels.zippedTwoTask(seed: 9)
            let tensors = try ReferenceInterpreter.runTensors(m, input: RandomModels.input(for: m, seed: 1))
            let idx = Dictionary(uniqueKeysWithValues: m.nodes.enumerated().map { ($0.element.name, $0.offset) })
            let sharedNode = m.nodes[idx["conv4/shared"]!], taskNode = m.nodes[idx["conv4/a"]!]
            guard case .conv2d(let sc) = sharedNode.op, case .conv2d(let tc) = taskNode.op else { Issue.record("not convs"); return }
            let conv3 = tensors[idx["conv3"]!]
            let sIn = ReferenceInterpreter.slice(conv3, channelOffset: sharedNode.inputs[0].channelOffset, channelCount: 6)
            let tIn = ReferenceInterpreter.slice(conv3, channelOffset: taskNode.inputs[0].channelOffset, channelCount: 4)
            let joined = ReferenceInterpreter.concat([sIn, tIn])
            let sw = m.weights[sc.weight].values.array, tw = m.weights[tc.weight].values.array
            var w: [Float] = []
            for tap in 0..<(8 * 9) {
                w.append(contentsOf: sw[(tap * 6)..<(tap * 6 + 6)])
                w.append(contentsOf: tw[(tap * 4)..<(tap * 4 + 4)])
            }
            let full = ReferenceInterpreter.conv2d(joined, Conv2D(window: sc.window, outChannels: 8, weight: 0, bias: nil, activation: .relu),
                                                   weight: w, bias: m.weights[sc.bias!].values.array, addend: nil)
            let c = FloatComparison(tensors[idx["conv4/a"]!].values, full.values, absFloor: 1e-5)
            #expect(c.error < 1e-5, "\(c)")
        }

        @Test func demoModelLayoutAndNonUniformOutputs() throws {
            let m = DemoModel.make()
            #expect(m.input.width == 32 && m.input.height == 32 && m.input.format == .rgb && m.input.resize == .stretch)
            #expect(m.input.mean == [0.5, 0.5, 0.5] && m.input.std == [0.25, 0.25, 0.25])
            #expect(m.tasks.map(\.name) == ["objects", "scene"])
            #expect(m.tasks[0].labels == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
            #expect(m.tasks[1].labels == ["indoor", "outdoor-natural", "outdoor-urban", "other"])
            #expect(m.metadata["description"]?.hasPrefix("UNTRAINED demo model with fixed seeded weights") == true)
            #expect(m.metadata["producer"] == "mtz DemoModel.make (MTZTestSupport)")
            let shapes = try m.validate()
            let conv3Channels = m.nodes.indices.filter { m.nodes[$0].layer == "conv3" }.map { shapes[$0].channels }
            #expect(conv3Channels == [32, 16, 16])
            // A mid-grey image (all zeros after normalisation) and a random one both give clearly non-uniform outputs.
            for input in [[Float](repeating: 0, count: 32 * 32 * 3), RandomModels.input(for: m, seed: 42)] {
                let out = try ReferenceInterpreter.outputs(m, input: input)
                for (task, probs) in out {
                    let spread = probs.max()! - probs.min()!
                    #expect(spread > 0.05, "\(task) outputs are nearly uniform: \(probs)")
                }
            }
        }
    }

    @Suite struct Helpers {
        @Test func seededRandomIsDeterministicAndInRange() {
            let a = seededFloats(count: 1000, seed: 42, range: -2...3)
            #expect(a == seededFloats(count: 1000, seed: 42, range: -2...3))
            #expect(a != seededFloats(count: 1000, seed: 43, range: -2...3))
            #expect(a.allSatisfy { $0 >= -2 && $0 <= 3 })
            let mean = a.reduce(0, +) / Float(a.count)
            #expect(abs(mean - 0.5) < 0.2)
            var rng = SeededRandom(seed: 0)
            let ints = (0..<1000).map { _ in rng.nextInt(below: 7) }
            #expect(Set(ints) == Set(0..<7))
        }

        @Test func toleranceReportsTheWorstElement() {
            let expected: [Float] = [1, 100, 0, -3]
            let actual: [Float] = [1, 100.5, 0.000001, -3]
            let (index, error) = maxRelativeError(actual, expected, absFloor: 1e-3)
            #expect(index == 1)
            #expect(abs(error - 0.005) < 1e-6)
            #expect(isClose(actual, expected, relative: 1e-2, absolute: 1e-4))
            #expect(!isClose(actual, expected, relative: 1e-3, absolute: 1e-4))
            #expect(maxRelativeError([1, .nan], [1, 2]).error == .infinity)
            #expect(maxRelativeError([1], [1, 2]).error == .infinity)
            #expect(maxRelativeError([.infinity], [.infinity]).error == 0)
            #expect(!isClose([.nan], [.nan]))
            #expect(FloatComparison([1, 2], [1, 2.5]).description.contains("index 1"))
        }
    }
}
