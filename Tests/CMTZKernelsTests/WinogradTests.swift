// Winograd F(4x4, 3x3) and F(2x2, 5x5) convolution against the im2col/GEMM convolution (the direct path) and the
// naive double-precision reference, on every ISA this machine can run.
//
// Tolerance, relative to the output's magnitude: max |winograd - reference| <= 1e-4 * max |reference|
// over the whole output (per layer, not per element). Why that form: Winograd computes each output
// as a sum of transformed products whose terms are up to ~10x larger than the output itself (the
// transforms multiply by up to 8 and 5 and cancel afterwards), so its rounding error scales with the
// magnitude of the layer's values, not with each element; a near-zero output element gets an absolute
// error of the layer's scale. fp32 rounding (6e-8) times that amplification times the sqrt-growth of
// the in_c*9-term sums gives ~1e-6..1e-5, which is what these shapes measure (1.6e-5 at in_c = 512);
// 1e-4 leaves a 6x margin and still catches any wrong coefficient, tap or edge (those are >= 1e-2).
// The GEMM path is held to the same bound against the reference, and the two paths to twice it
// against each other.
// Every case also checks that input gaps (NaN) are never read, output gaps keep their sentinel, and
// that computing tiles [0, a) then [a, end), or the output channels one GEMM panel at a time, is
// bit-identical to one call (the two thread splits).
import CMTZKernels
import Foundation
import Testing

/// Runs `c` (a 3x3 or 5x5 stride-1 case) through Winograd and the GEMM path on `isa`; a failure
/// description, or nil.
func checkWinograd(_ c: ConvCase, isa: mtz_isa, seed: UInt64) -> String? {
    guard var p = c.params else { return "\(c): window larger than padded input (bad test case)" }
    guard mtz_winograd_eligible(&p) == 1 else { return "\(c): not eligible for Winograd" }
    var rng = KernelTestRNG(seed: seed)
    let pixels = p.out_h * p.out_w
    let input = stridedView(pixels: c.inH * c.inW, channels: c.inC, stride: p.in_pixel_stride, gapValue: .nan, &rng)
    let weights = FloatBuffer(random: c.outC * c.kH * c.kW * c.inC, &rng)
    let bias = FloatBuffer(random: c.outC, &rng)
    let expected = stridedView(pixels: pixels, channels: c.outC, stride: p.out_pixel_stride, gapValue: outputSentinel, &rng)
    let whole = expected.copy(), split = expected.copy(), columns = expected.copy(), gemm = expected.copy()
    let acc: Int32 = c.accumulate ? 1 : 0
    mtz_conv2d_reference(&p, input.base, weights.base, bias.base, expected.base, acc, c.act)

    let packed = FloatBuffer(count: mtz_winograd_packed_size(isa, &p))
    mtz_winograd_pack(isa, &p, weights.base, bias.base, packed.base)
    let workspace = FloatBuffer(count: mtz_winograd_workspace_size(isa, &p))
    let tiles = mtz_winograd_tiles(&p)
    let cut = tiles / 3 + (tiles > 1 ? 1 : 0)
    let nr = mtz_gemm_nr(isa), outC = p.out_c
    mtz_conv2d_winograd(isa, &p, input.base, packed.base, whole.base, workspace.base, 0, tiles, 0, outC, acc, c.act)
    mtz_conv2d_winograd(isa, &p, input.base, packed.base, split.base, workspace.base, 0, cut, 0, outC, acc, c.act)
    mtz_conv2d_winograd(isa, &p, input.base, packed.base, split.base, workspace.base, cut, tiles, 0, outC, acc, c.act)
    // The other thread split: output channels, in whole GEMM panels (the last range runs past out_c).
    var oc = 0
    while oc < outC {
        mtz_conv2d_winograd(isa, &p, input.base, packed.base, columns.base, workspace.base, 0, tiles, oc, oc + nr, acc, c.act)
        oc += nr
    }

    let gemmPacked = FloatBuffer(count: mtz_conv2d_packed_size(isa, &p))
    mtz_conv2d_pack(isa, &p, weights.base, bias.base, gemmPacked.base)
    let gemmWorkspace = FloatBuffer(count: max(1, mtz_conv2d_workspace_size(isa, &p)))
    mtz_conv2d(isa, &p, input.base, gemmPacked.base, gemm.base, gemmWorkspace.base, 0, pixels, acc, c.act)

    let where_ = "\(isaName(isa)) \(c)"
    var magnitude: Float = 0
    for px in 0..<pixels { for o in 0..<c.outC { magnitude = max(magnitude, abs(expected[px * p.out_pixel_stride + o])) } }
    let bound = 1e-4 * max(magnitude, 1e-3)
    for (name, got, limit) in [("winograd", whole, bound), ("gemm", gemm, bound)] {
        for px in 0..<pixels {
            for o in 0..<c.outC {
                let g = got[px * p.out_pixel_stride + o], e = expected[px * p.out_pixel_stride + o]
                if !(abs(g - e) <= limit) { return "\(where_): \(name) pixel \(px) channel \(o): got \(g), expected \(e) (bound \(limit))" }
            }
        }
    }
    for px in 0..<pixels {
        for o in 0..<c.outC where !(abs(whole[px * p.out_pixel_stride + o] - gemm[px * p.out_pixel_stride + o]) <= 2 * bound) {
            return "\(where_): winograd and gemm differ at pixel \(px) channel \(o)"
        }
        for i in c.outC..<p.out_pixel_stride where whole[px * p.out_pixel_stride + i] != outputSentinel {
            return "\(where_): wrote into output gap at pixel \(px)"
        }
    }
    if !whole.bitwiseEqual(split) { return "\(where_): split at tile \(cut) differs from one call" }
    if !whole.bitwiseEqual(columns) { return "\(where_): splitting the output channels by panel differs from one call" }
    return nil
}

private func expectWinogradPasses(_ cases: [ConvCase], sourceLocation: SourceLocation = #_sourceLocation) {
    var failures: [String] = []
    for isa in runnableISAs {
        for (i, c) in cases.enumerated() {
            if let f = checkWinograd(c, isa: isa, seed: UInt64(i) &* 104_729 &+ 3) { failures.append(f) }
        }
    }
    let passed = failures.isEmpty // (not the array itself: #expect would print all of it)
    #expect(passed, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
}

@Suite struct WinogradTests {
    /// Sizes that are and are not multiples of the 4x4 tile (down to 1x1 outputs), padding 0, 1 and
    /// 2 (symmetric and one-sided), channel counts off every vector width, gaps, accumulate and every
    /// activation.
    @Test func grid() {
        let cases = gridCases(kernel: 3, sizes: [(3, 3), (4, 4), (5, 7), (6, 6), (8, 8), (9, 11), (13, 6), (1, 5), (16, 17)])
        #expect(cases.count >= 150)
        expectWinogradPasses(cases)
    }

    /// F(2x2, 5x5): the same grid with 5x5 kernels — maps that 2 does and does not divide, padding up
    /// to 4 (so tiles at every edge read padding), down to 1x1 outputs.
    @Test func grid5x5() {
        let cases = gridCases(kernel: 5, sizes: [(5, 5), (6, 6), (7, 9), (12, 12), (1, 5), (11, 8), (28, 28)])
        #expect(cases.count >= 120)
        expectWinogradPasses(cases)
    }

    /// LeNet-5's 5x5 layers (28x28x1 -> 24x24x20 and 12x12x20 -> 8x8x50, and 32x32 inputs with
    /// padding 2) and a wider 5x5 layer whose GEMM K is blocked.
    @Test func networkShapes5x5() {
        let cases = [(28, 28, 1, 20, 0), (12, 12, 20, 50, 0), (32, 32, 3, 6, 2), (14, 14, 6, 16, 0), (16, 16, 400, 72, 2)].map {
            ConvCase(inH: $0.0, inW: $0.1, inC: $0.2, outC: $0.3, kH: 5, kW: 5, padTop: $0.4, padBottom: $0.4, padLeft: $0.4,
                     padRight: $0.4, act: MTZ_ACT_RELU)
        }
        expectWinogradPasses(cases)
    }

    /// Cases over `sizes` x channel pairs x three paddings (none, symmetric 1 or 2, one-sided), with
    /// gaps, accumulate and every activation spread over them; those the geometry allows.
    private func gridCases(kernel: Int, sizes: [(Int, Int)]) -> [ConvCase] {
        var cases: [ConvCase] = []
        var n = 0
        let channels = [(1, 1), (3, 5), (8, 16), (17, 33), (16, 32), (31, 7), (40, 24)]
        let pad = kernel / 2
        for (h, w) in sizes {
            for (cin, cout) in channels {
                for padding in 0...2 {
                    n += 1
                    var c = ConvCase(inH: h, inW: w, inC: cin, outC: cout, kH: kernel, kW: kernel)
                    switch padding {
                    case 0: break
                    case 1: (c.padTop, c.padBottom, c.padLeft, c.padRight) = (pad, pad, pad, pad)
                    default:
                        (c.padTop, c.padBottom, c.padLeft, c.padRight) = n % 2 == 0 ? (2 * pad, 0, 0, 2 * pad) : (0, 2 * pad, 2 * pad, 1)
                    }
                    c.inGap = n % 3 == 0 ? 3 : 0
                    c.outGap = n % 4 == 1 ? 2 : 0
                    c.accumulate = n % 2 == 1
                    c.act = allActivations[n % allActivations.count]
                    if c.params != nil { cases.append(c) }
                }
            }
        }
        return cases
    }

    /// Layer shapes of real networks (VGG/ResNet widths, map sizes that 4 does and does not divide),
    /// where the tile blocks and the GEMMs' K blocks (in_c > 384) come into play.
    @Test func networkShapes() {
        let cases = [(28, 28, 64, 64), (14, 14, 128, 256), (7, 7, 512, 512), (10, 10, 400, 96), (30, 22, 96, 130)].map {
            ConvCase(inH: $0.0, inW: $0.1, inC: $0.2, outC: $0.3, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1, padRight: 1,
                     act: MTZ_ACT_RELU)
        }
        expectWinogradPasses(cases)
    }

    /// The cache sizes the tile block follows: read from sysfs (or the defaults), ordered, and the
    /// block a multiple of MR that holds at least four MR-row tiles.
    @Test func cacheSizesAndBlock() {
        let l1 = mtz_cache_size(1), l2 = mtz_cache_size(2), l3 = mtz_cache_size(3)
        #expect(l1 >= 4096 && l1 <= l2 && l2 <= l3)
        #expect(mtz_cache_size(0) == 0 && mtz_cache_size(4) == 0)
        // On x86 the sizes come from CPUID; Linux fills sysfs from the same leaves, so they agree.
        for (level, bytes) in sysfsDataCacheSizes() {
            #expect(mtz_cache_size(Int32(level)) == bytes, "L\(level): \(mtz_cache_size(Int32(level))) vs sysfs \(bytes)")
        }
        for isa in runnableISAs {
            var p = ConvCase(inH: 56, inW: 56, inC: 256, outC: 256, kH: 3, kW: 3, padTop: 1, padBottom: 1, padLeft: 1,
                             padRight: 1).params!
            let mr = mtz_gemm_mr(isa), block = mtz_winograd_block_tiles(isa, &p)
            #expect(block % mr == 0 && block >= 4 * mr, "\(isaName(isa)): block \(block)")
            #expect(mtz_winograd_workspace_size(isa, &p) == block * 36 * 512)
        }
    }

    /// Only 3x3 and 5x5, stride 1, dilation 1, ungrouped convolutions are eligible.
    @Test func eligibility() {
        func eligible(_ c: ConvCase) -> Bool {
            var p = c.params!
            return mtz_winograd_eligible(&p) == 1
        }
        #expect(eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 3, kW: 3)))
        #expect(!eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 3, kW: 3, strideH: 2, strideW: 2)))
        #expect(!eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 3, kW: 3, dilH: 2, dilW: 2)))
        #expect(!eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 3, kW: 3, groups: 2)))
        #expect(eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 5, kW: 5)))
        #expect(!eligible(ConvCase(inH: 9, inW: 9, inC: 2, outC: 2, kH: 5, kW: 5, strideH: 2, strideW: 2)))
        #expect(!eligible(ConvCase(inH: 7, inW: 7, inC: 2, outC: 2, kH: 7, kW: 7)))
        #expect(!eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 3, kW: 5)))
        #expect(!eligible(ConvCase(inH: 5, inW: 5, inC: 2, outC: 2, kH: 1, kW: 3)))
    }
}

/// Data and unified cache sizes by level from Linux sysfs (empty where sysfs has none).
private func sysfsDataCacheSizes() -> [(Int, Int)] {
    var sizes: [(Int, Int)] = []
    for i in 0..<8 {
        let dir = "/sys/devices/system/cpu/cpu0/cache/index\(i)/"
        func read(_ name: String) -> String? {
            (try? String(contentsOfFile: dir + name, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let level = read("level").flatMap(Int.init), let type = read("type"), var size = read("size") else { break }
        guard type != "Instruction", (1...3).contains(level) else { continue }
        var scale = 1
        if size.hasSuffix("K") { scale = 1 << 10 } else if size.hasSuffix("M") { scale = 1 << 20 }
        if scale > 1 { size.removeLast() }
        if let v = Int(size) { sizes.append((level, v * scale)) }
    }
    return sizes
}
