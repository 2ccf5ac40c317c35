// Max / average / global average pooling against a naive double-precision reference, on every ISA
// this machine can run. Tolerance: max pooling is exact; averages |got - ref| <= 1e-5 + 1e-5*|ref|.
// Input view gaps hold NaN (a read outside the view would show), output gaps a sentinel that must
// survive, and [0, a) + [a, end) must equal one call bit for bit.
import MTZCore
import CMTZKernels
import Testing

/// Naive pooling over all output pixels of `p` (dilation 1, in_c == out_c).
private func referencePool(_ p: mtz_conv2d_params, _ input: FloatBuffer, _ out: FloatBuffer, max isMax: Bool,
                           countIncludePad: Bool)
{
    for oy in 0..<p.out_h {
        for ox in 0..<p.out_w {
            for c in 0..<p.out_c {
                var acc = isMax ? -Double.infinity : 0
                var count = 0
                for ky in 0..<p.kernel_h {
                    for kx in 0..<p.kernel_w {
                        let iy = oy * p.stride_h + ky - p.pad_top, ix = ox * p.stride_w + kx - p.pad_left
                        guard iy >= 0, iy < p.in_h, ix >= 0, ix < p.in_w else { continue }
                        let v = Double(input[(iy * p.in_w + ix) * p.in_pixel_stride + c])
                        acc = isMax ? max(acc, v) : acc + v
                        count += 1
                    }
                }
                if !isMax { acc /= Double(countIncludePad ? p.kernel_h * p.kernel_w : count) }
                out[(oy * p.out_w + ox) * p.out_pixel_stride + c] = Float(acc)
            }
        }
    }
}

private enum PoolKind: CaseIterable { case max, avgIncludePad, avgExcludePad }

/// Returns a failure description or nil.
private func checkPool(_ c: PoolCase, _ kind: PoolKind, isa: mtz_isa, seed: UInt64) -> String? {
    var p = c.params
    guard mtz_conv2d_params_valid(&p) == 1 else { return "\(c): invalid geometry (bad test case)" }
    var rng = KernelTestRNG(seed: seed)
    let pixels = p.out_h * p.out_w
    let input = stridedView(pixels: c.inH * c.inW, channels: c.channels, stride: p.in_pixel_stride,
                            gapValue: .nan, &rng)
    let expected = FloatBuffer(count: pixels * p.out_pixel_stride, fill: outputSentinel)
    let whole = expected.copy(), split = expected.copy()
    referencePool(p, input, expected, max: kind == .max, countIncludePad: kind == .avgIncludePad)
    let cut = (pixels + 1) / 2
    for (begin, end, out) in [(0, pixels, whole), (0, cut, split), (cut, pixels, split)] {
        switch kind {
        case .max: mtz_maxpool2d(isa, &p, input.base, out.base, begin, end)
        case .avgIncludePad: mtz_avgpool2d(isa, &p, input.base, out.base, begin, end, 1)
        case .avgExcludePad: mtz_avgpool2d(isa, &p, input.base, out.base, begin, end, 0)
        }
    }
    let tol: Float = kind == .max ? 0 : 1e-5
    if let m = firstMismatch(whole, expected, abs: tol, rel: tol) { return "\(isaName(isa)) \(kind) \(c): \(m)" }
    if !whole.bitwiseEqual(split) { return "\(isaName(isa)) \(kind) \(c): split differs from one call" }
    return nil
}

@Suite struct PoolingTests {
    @Test func windowGrid() {
        var cases = poolWindowGrid()
        // Window == input; 1x1 input padded to a 3x3 window; more than one 256-channel chunk.
        cases.append(PoolCase(inH: 3, inW: 4, channels: 5, kH: 3, kW: 4, stride: 1))
        cases.append(PoolCase(inH: 1, inW: 1, channels: 9, kH: 3, kW: 3, stride: 1, padTop: 1, padBottom: 1,
                              padLeft: 1, padRight: 1))
        cases.append(PoolCase(inH: 4, inW: 4, channels: 300, kH: 2, kW: 2, stride: 2, inGap: 1, outGap: 1))

        var failures: [String] = []
        for isa in runnableISAs {
            for (i, c) in cases.enumerated() {
                for kind in PoolKind.allCases {
                    if let f = checkPool(c, kind, isa: isa, seed: UInt64(i) + 1) { failures.append(f) }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, e.g.:\n\(failures.prefix(5).joined(separator: "\n"))")
    }

    @Test func globalAveragePool() {
        var rng = KernelTestRNG(seed: 99)
        for isa in runnableISAs {
            for (pixels, channels, gap) in [(1, 1, 0), (7, 3, 2), (49, 17, 0), (5, 33, 1), (3, 300, 4)] {
                let stride = channels + gap
                let input = stridedView(pixels: pixels, channels: channels, stride: stride, gapValue: .nan, &rng)
                let out = FloatBuffer(count: channels + 1, fill: outputSentinel)
                mtz_global_avgpool(isa, pixels, channels, input.base, stride, out.base)
                for c in 0..<channels {
                    let ref = (0..<pixels).reduce(0.0) { $0 + Double(input[$1 * stride + c]) } / Double(pixels)
                    #expect(abs(Double(out[c]) - ref) <= 1e-5 + 1e-5 * abs(ref),
                            "\(isaName(isa)) pixels \(pixels) channels \(channels) c \(c)")
                }
                #expect(out[channels] == outputSentinel, "\(isaName(isa)): wrote past out[channels - 1]")
            }
        }
    }
}
