// Convolution kernels (im2col/direct GEMM drivers and depthwise) against the naive reference, on
// every ISA this machine can run.
//
// Tolerance: |got - ref| <= 1e-4 + 1e-5*sqrt(K) * (1 + |ref|), with K = kernel_h*kernel_w*in_c/groups
// (inputs and weights are uniform in [-1, 1); the reference accumulates in double).
// Every case also checks that
//  - the gaps of strided output views (pixel stride > out_c) keep their sentinel, and the gaps of
//    strided input views hold NaN, so any read outside the input view poisons the result;
//  - computing [0, a) and then [a, end) gives bit-identical output to one call over [0, end).
import MTZCore
import CMTZKernels
import Testing

/// One convolution geometry; padding is given on all four sides and out_h/out_w follow from it.
struct ConvCase: CustomStringConvertible {
    var inH = 1, inW = 1, inC = 1, outC = 1
    var kH = 1, kW = 1, strideH = 1, strideW = 1, dilH = 1, dilW = 1
    var padTop = 0, padBottom = 0, padLeft = 0, padRight = 0
    var groups = 1
    var inGap = 0, outGap = 0 // extra floats per pixel in the input / output views
    var accumulate = false
    var act = MTZ_ACT_NONE

    var description: String {
        "in \(inH)x\(inW)x\(inC) out_c \(outC) k \(kH)x\(kW) s \(strideH),\(strideW) d \(dilH),\(dilW) "
            + "pad t\(padTop) b\(padBottom) l\(padLeft) r\(padRight) g \(groups) gaps \(inGap),\(outGap) "
            + "acc \(accumulate) act \(act.rawValue)"
    }

    /// The kernel parameters, or nil when the padded input is smaller than the dilated window.
    var params: mtz_conv2d_params? {
        let effH = (kH - 1) * dilH + 1, effW = (kW - 1) * dilW + 1
        let spanH = inH + padTop + padBottom - effH, spanW = inW + padLeft + padRight - effW
        guard spanH >= 0, spanW >= 0 else { return nil }
        return mtz_conv2d_params(
            in_h: inH, in_w: inW, in_c: inC, in_pixel_stride: inC + inGap,
            out_h: spanH / strideH + 1, out_w: spanW / strideW + 1, out_c: outC, out_pixel_stride: outC + outGap,
            kernel_h: kH, kernel_w: kW, stride_h: strideH, stride_w: strideW, dilation_h: dilH, dilation_w: dilW,
            pad_top: padTop, pad_left: padLeft, groups: groups)
    }
}

enum ConvPath { case gemm, depthwise }

/// Runs `c` on `isa`; returns a failure description, or nil on success.
func checkConvolution(_ c: ConvCase, isa: mtz_isa, path: ConvPath, seed: UInt64) -> String? {
    guard var p = c.params else { return "\(c): window larger than padded input (bad test case)" }
    guard mtz_conv2d_params_valid(&p) == 1 else { return "\(c): rejected by mtz_conv2d_params_valid" }
    var rng = KernelTestRNG(seed: seed)
    let pixels = p.out_h * p.out_w
    let k = c.kH * c.kW * c.inC / c.groups
    let input = stridedView(pixels: c.inH * c.inW, channels: c.inC, stride: p.in_pixel_stride,
                            gapValue: .nan, &rng)
    let weights = FloatBuffer(random: c.outC * k, &rng)
    let bias = FloatBuffer(random: c.outC, &rng)
    let expected = stridedView(pixels: pixels, channels: c.outC, stride: p.out_pixel_stride,
                               gapValue: outputSentinel, &rng)
    let whole = expected.copy(), split = expected.copy()
    mtz_conv2d_reference(&p, input.base, weights.base, bias.base, expected.base, c.accumulate ? 1 : 0, c.act)

    let acc: Int32 = c.accumulate ? 1 : 0
    let cut = pixels / 3 + (pixels > 1 ? 1 : 0) // an unaligned split point, 0 < cut <= pixels
    switch path {
    case .gemm:
        let packed = FloatBuffer(count: mtz_conv2d_packed_size(isa, &p))
        mtz_conv2d_pack(isa, &p, weights.base, bias.base, packed.base)
        let wsCount = mtz_conv2d_workspace_size(isa, &p)
        let workspace = wsCount > 0 ? FloatBuffer(count: wsCount) : nil
        mtz_conv2d(isa, &p, input.base, packed.base, whole.base, workspace?.base, 0, pixels, acc, c.act)
        mtz_conv2d(isa, &p, input.base, packed.base, split.base, workspace?.base, 0, cut, acc, c.act)
        mtz_conv2d(isa, &p, input.base, packed.base, split.base, workspace?.base, cut, pixels, acc, c.act)
    case .depthwise:
        let packed = FloatBuffer(count: mtz_dwconv2d_packed_size(&p))
        mtz_dwconv2d_pack(&p, weights.base, bias.base, packed.base)
        mtz_dwconv2d(isa, &p, input.base, packed.base, whole.base, 0, pixels, acc, c.act)
        mtz_dwconv2d(isa, &p, input.base, packed.base, split.base, 0, cut, acc, c.act)
        mtz_dwconv2d(isa, &p, input.base, packed.base, split.base, cut, pixels, acc, c.act)
    }

    let where_ = "\(isaName(isa)) \(path) \(c)"
    let sqrtK = Float(k).squareRoot()
    if let m = firstMismatch(whole, expected, abs: 1e-4 + 1e-5 * sqrtK, rel: 1e-5 * sqrtK) {
        return "\(where_): \(m)"
    }
    if !whole.bitwiseEqual(split) { return "\(where_): split at \(cut) differs from one call" }
    for px in 0..<pixels {
        for i in c.outC..<p.out_pixel_stride where whole[px * p.out_pixel_stride + i] != outputSentinel {
            return "\(where_): wrote into output gap at pixel \(px)"
        }
    }
    return nil
}

/// Runs every case on every runnable ISA and records the failures (at most 5 reported).
func expectAllPass(_ cases: [ConvCase], paths: [ConvPath], sourceLocation: SourceLocation = #_sourceLocation) {
    var failures: [String] = []
    for isa in runnableISAs {
        for (i, c) in cases.enumerated() {
            for path in paths {
                if let f = checkConvolution(c, isa: isa, path: path, seed: UInt64(i) &* 7919 &+ 17) {
                    failures.append(f)
                }
            }
        }
    }
    #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}

/// Kernel shapes of the grid: 1, 2, 3, 5, 7 square and 1x3 / 3x1.
private let kernelShapes = [(1, 1), (2, 2), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1)]
/// Channel counts that are not multiples of any tile (1, 3, 17, 33).
private let oddChannels = [1, 3, 17, 33]

/// The edge-case grid: every kernel shape x stride 1..3 x dilation 1..2, with rotating channel
/// counts, padding styles, view gaps, accumulate and activation.
private func gridCases(groups: Int, depthwise: Bool) -> [ConvCase] {
    var cases: [ConvCase] = []
    var n = 0
    for (kH, kW) in kernelShapes {
        for stride in 1...3 {
            for dil in 1...2 {
                n += 1
                let chIn = oddChannels[n % 4], chOut = oddChannels[(n + 1) % 4]
                var c = ConvCase()
                c.inH = 9
                c.inW = 7
                c.inC = depthwise ? chIn : chIn * groups
                c.outC = depthwise ? c.inC : chOut * groups
                c.groups = depthwise ? c.inC : groups
                c.kH = kH
                c.kW = kW
                c.strideH = stride
                c.strideW = stride == 3 ? 2 : stride // also a non-square stride
                c.dilH = dil
                c.dilW = dil
                let effH = (kH - 1) * dil + 1, effW = (kW - 1) * dil + 1
                switch n % 3 {
                case 0: break // no padding
                case 1: // "same"-style, the larger half at the bottom / on the left
                    c.padTop = (effH - 1) / 2
                    c.padBottom = effH - 1 - c.padTop
                    c.padRight = (effW - 1) / 2
                    c.padLeft = effW - 1 - c.padRight
                default: // asymmetric: all padding on top / right
                    c.padTop = effH - 1
                    c.padRight = effW - 1
                }
                c.inGap = n % 2 == 0 ? 3 : 0
                c.outGap = n % 4 < 2 ? 2 : 0
                c.accumulate = n % 2 == 1
                c.act = allActivations[n % allActivations.count]
                if c.params != nil { cases.append(c) }
            }
        }
    }
    return cases
}

@Suite struct ConvolutionTests {
    @Test func gridGroups1() {
        let cases = gridCases(groups: 1, depthwise: false)
        #expect(cases.count >= 40)
        expectAllPass(cases, paths: [.gemm])
    }

    @Test func gridGroups2() {
        expectAllPass(gridCases(groups: 2, depthwise: false), paths: [.gemm])
    }

    /// Depthwise geometry through the dedicated kernel and through the generic grouped GEMM path.
    @Test func gridDepthwise() {
        let cases = gridCases(groups: 1, depthwise: true)
        #expect(cases.count >= 40)
        expectAllPass(cases, paths: [.depthwise, .gemm])
    }

    /// Depthwise channel counts around every vector width and unroll (8/16/32/64 lanes, tails).
    @Test func depthwiseChannelTails() {
        let cases = [1, 4, 7, 8, 9, 16, 31, 32, 33, 63, 64, 65, 100].map { ch -> ConvCase in
            var c = ConvCase(inH: 6, inW: 5, inC: ch, outC: ch, kH: 3, kW: 3, strideH: 1, strideW: 1,
                             padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, groups: ch)
            c.inGap = ch % 2
            c.outGap = 1
            c.accumulate = ch % 3 == 0
            c.act = allActivations[ch % allActivations.count]
            return c
        }
        expectAllPass(cases, paths: [.depthwise])
    }

    /// 1x1 input, a window as large as the input, a 1x1 input padded to a 3x3 window, and a window
    /// with no valid tap at all.
    @Test func tinyInputs() {
        var cases: [ConvCase] = []
        for ch in [1, 3, 17] {
            cases.append(ConvCase(inC: ch, outC: 5))
            cases.append(ConvCase(inH: 3, inW: 3, inC: ch, outC: 4, kH: 3, kW: 3))
            cases.append(ConvCase(inH: 5, inW: 2, inC: ch, outC: 2, kH: 5, kW: 2, strideH: 3, strideW: 2))
            cases.append(ConvCase(inC: ch, outC: 3, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1))
            // Dilated 2x2 window over a padded 1x1 input: both taps of each axis fall in the padding,
            // so the output is the bias alone.
            cases.append(ConvCase(inC: ch, outC: 2, kH: 2, kW: 2, dilH: 2, dilW: 2, padTop: 1, padBottom: 1,
                                  padLeft: 1, padRight: 1))
        }
        expectAllPass(cases, paths: [.gemm])
        let dw = [1, 3, 17].flatMap { ch in
            [ConvCase(inC: ch, outC: ch, groups: ch),
             ConvCase(inH: 3, inW: 3, inC: ch, outC: ch, kH: 3, kW: 3, groups: ch),
             ConvCase(inC: ch, outC: ch, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1, groups: ch),
             ConvCase(inC: ch, outC: ch, kH: 2, kW: 2, dilH: 2, dilW: 2, padTop: 1, padBottom: 1, padLeft: 1,
                      padRight: 1, groups: ch)]
        }
        expectAllPass(dw, paths: [.depthwise, .gemm])
    }

    /// 1x1 convolutions: stride 1 reads the input in place (no workspace), stride 2 gathers; grouped,
    /// strided views.
    @Test func pointwise() {
        var cases: [ConvCase] = []
        for (inC, outC, groups) in [(17, 33, 1), (64, 40, 1), (34, 6, 2), (3, 1, 1)] {
            for stride in 1...2 {
                var c = ConvCase(inH: 7, inW: 6, inC: inC, outC: outC, strideH: stride, strideW: stride, groups: groups)
                c.inGap = stride == 2 ? 5 : 0
                c.outGap = stride == 1 ? 3 : 0
                c.accumulate = stride == 2
                c.act = stride == 1 ? MTZ_ACT_RELU6 : MTZ_ACT_NONE
                cases.append(c)
                if var p = c.params {
                    // Only stride 1 reads the input in place; strided 1x1 gathers its pixels.
                    for isa in runnableISAs { #expect((mtz_conv2d_workspace_size(isa, &p) == 0) == (stride == 1)) }
                }
            }
        }
        // Same geometry class, but out_w < in_w: rows of A no longer follow each other.
        cases.append(ConvCase(inH: 4, inW: 5, inC: 5, outC: 7, padBottom: 0, padRight: -1, inGap: 2))
        expectAllPass(cases, paths: [.gemm])
    }

    /// Every activation with accumulate on and off on one geometry, plus a larger case where the
    /// im2col path needs several blocks.
    @Test func activationsAndAccumulate() {
        var cases: [ConvCase] = []
        for act in allActivations {
            for accumulate in [false, true] {
                var c = ConvCase(inH: 5, inW: 6, inC: 17, outC: 33, kH: 3, kW: 3, strideH: 1, strideW: 1,
                                 padTop: 1, padBottom: 1, padLeft: 1, padRight: 1)
                c.act = act
                c.accumulate = accumulate
                cases.append(c)
            }
        }
        var big = ConvCase(inH: 20, inW: 19, inC: 64, outC: 40, kH: 3, kW: 3, padTop: 1, padBottom: 1,
                           padLeft: 1, padRight: 1)
        big.act = MTZ_ACT_RELU
        cases.append(big)
        expectAllPass(cases, paths: [.gemm])
    }

    @Test func paramsValidation() {
        var ok = ConvCase(inH: 5, inW: 5, inC: 4, outC: 6, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1,
                          padRight: 1, groups: 2).params!
        #expect(mtz_conv2d_params_valid(&ok) == 1)
        let broken: [(String, (inout mtz_conv2d_params) -> Void)] = [
            ("zero in_h", { $0.in_h = 0 }), ("zero out_c", { $0.out_c = 0 }), ("zero kernel", { $0.kernel_w = 0 }),
            ("zero stride", { $0.stride_h = 0 }), ("zero dilation", { $0.dilation_w = 0 }),
            ("zero groups", { $0.groups = 0 }), ("groups not dividing in_c", { $0.groups = 3 }),
            ("in stride < in_c", { $0.in_pixel_stride = 3 }), ("out stride < out_c", { $0.out_pixel_stride = 5 }),
            ("pad >= window", { $0.pad_top = 3 }), ("out_h unreachable", { $0.out_h = 7 }),
            ("out_w unreachable", { $0.out_w = 7 }),
        ]
        for (name, breakIt) in broken {
            var p = ok
            breakIt(&p)
            #expect(mtz_conv2d_params_valid(&p) == 0, "\(name) should be invalid")
        }
    }

    @Test func packedAndWorkspaceSizes() {
        for isa in runnableISAs {
            var p = ConvCase(inH: 8, inW: 8, inC: 6, outC: 10, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1,
                             padRight: 1, groups: 2).params!
            let k = 3 * 3 * 3
            #expect(mtz_conv2d_packed_size(isa, &p) == 2 * mtz_gemm_packed_size(isa, k, 5))
            let ws = mtz_conv2d_workspace_size(isa, &p)
            #expect(ws > 0 && ws % k == 0 && (ws / k) % mtz_gemm_mr(isa) == 0)
            #expect(mtz_dwconv2d_packed_size(&p) == 10 * 10)
        }
    }
}
