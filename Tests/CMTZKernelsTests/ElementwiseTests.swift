// Element-wise kernels (add, activate, scale-shift, copy, softmax) against double-precision
// references, on every ISA this machine can run, over channel counts around every vector width,
// strided views (input gaps hold NaN, output gaps a sentinel that must survive) and in-place use.
// Tolerance: |got - ref| <= 1e-6 + 1e-6*|ref| (add, ReLU/ReLU6, copy are exact in practice; sigmoid,
// tanh, the fused multiply-add of scale-shift and softmax's expf round slightly differently).
import MTZCore
import CMTZKernels
import Foundation
import Testing

private let channelCounts = [1, 3, 7, 8, 9, 16, 17, 33, 70]
private let tolerance: Float = 1e-6

/// Geometry of one strided [pixels][channels] test: gaps per view.
private struct ViewShape {
    let pixels = 3
    let channels: Int
    let inGap: Int, outGap: Int
    var inStride: Int { channels + inGap }
    var outStride: Int { channels + outGap }

    init(_ channels: Int) {
        self.channels = channels
        inGap = channels % 3
        outGap = channels % 2 == 0 ? 1 : 0
    }
}

/// Output buffer of `shape` filled with the sentinel, and the expected result with `value(p, c)` in
/// the view.
private func outputs(_ s: ViewShape, _ value: (Int, Int) -> Double) -> (FloatBuffer, FloatBuffer) {
    let out = FloatBuffer(count: s.pixels * s.outStride, fill: outputSentinel)
    let expected = out.copy()
    for p in 0..<s.pixels { for c in 0..<s.channels { expected[p * s.outStride + c] = Float(value(p, c)) } }
    return (out, expected)
}

/// First element of the [pixels][channels] view of `actual` (row stride `stride`) that differs from
/// `expected` (row stride s.outStride) by more than the tolerance, or nil.
private func viewMismatch(_ actual: FloatBuffer, stride: Int, _ expected: FloatBuffer, _ s: ViewShape) -> String? {
    for p in 0..<s.pixels {
        for c in 0..<s.channels {
            let got = actual[p * stride + c], want = expected[p * s.outStride + c]
            if !(abs(got - want) <= tolerance * (1 + abs(want))) {
                return "pixel \(p) channel \(c): got \(got), expected \(want)"
            }
        }
    }
    return nil
}

@Suite struct ElementwiseTests {
    @Test func add() {
        var rng = KernelTestRNG(seed: 1)
        for isa in runnableISAs {
            for ch in channelCounts {
                for act in allActivations {
                    let s = ViewShape(ch)
                    // Values in [-8, 8) so ReLU6 clamps at both ends.
                    let a = stridedView(pixels: s.pixels, channels: ch, stride: s.inStride, gapValue: .nan, &rng)
                    let b = stridedView(pixels: s.pixels, channels: ch, stride: s.channels, gapValue: .nan, &rng)
                    for i in 0..<a.count where !a[i].isNaN { a[i] *= 8 }
                    for i in 0..<b.count { b[i] *= 8 }
                    let (out, expected) = outputs(s) { p, c in
                        referenceActivation(Double(a[p * s.inStride + c] + b[p * ch + c]), act)
                    }
                    mtz_add(isa, s.pixels, ch, a.base, s.inStride, b.base, ch, out.base, s.outStride, act)
                    let m = firstMismatch(out, expected, abs: tolerance, rel: tolerance)
                    #expect(m == nil, "\(isaName(isa)) channels \(ch) act \(act.rawValue): \(m ?? "")")

                    // In place: out aliases a, then b.
                    let a2 = a.copy()
                    mtz_add(isa, s.pixels, ch, a2.base, s.inStride, b.base, ch, a2.base, s.inStride, act)
                    let b2 = b.copy()
                    mtz_add(isa, s.pixels, ch, a.base, s.inStride, b2.base, ch, b2.base, ch, act)
                    let ma = viewMismatch(a2, stride: s.inStride, expected, s)
                    let mb = viewMismatch(b2, stride: ch, expected, s)
                    #expect(ma == nil, "\(isaName(isa)) channels \(ch) act \(act.rawValue) out == a: \(ma ?? "")")
                    #expect(mb == nil, "\(isaName(isa)) channels \(ch) act \(act.rawValue) out == b: \(mb ?? "")")
                }
            }
        }
    }

    @Test func activate() {
        var rng = KernelTestRNG(seed: 2)
        for isa in runnableISAs {
            for ch in channelCounts {
                for act in allActivations {
                    let s = ViewShape(ch)
                    let input = stridedView(pixels: s.pixels, channels: ch, stride: s.inStride, gapValue: .nan, &rng)
                    for i in 0..<input.count where !input[i].isNaN { input[i] *= 8 }
                    let (out, expected) = outputs(s) { p, c in
                        referenceActivation(Double(input[p * s.inStride + c]), act)
                    }
                    mtz_activate(isa, s.pixels, ch, input.base, s.inStride, out.base, s.outStride, act)
                    let m = firstMismatch(out, expected, abs: tolerance, rel: tolerance)
                    #expect(m == nil, "\(isaName(isa)) channels \(ch) act \(act.rawValue): \(m ?? "")")

                    mtz_activate(isa, s.pixels, ch, input.base, s.inStride, input.base, s.inStride, act)
                    let mi = viewMismatch(input, stride: s.inStride, expected, s)
                    #expect(mi == nil, "\(isaName(isa)) channels \(ch) act \(act.rawValue) in place: \(mi ?? "")")
                }
            }
        }
    }

    @Test func scaleShift() {
        var rng = KernelTestRNG(seed: 3)
        for isa in runnableISAs {
            for ch in channelCounts {
                let s = ViewShape(ch)
                let input = stridedView(pixels: s.pixels, channels: ch, stride: s.inStride, gapValue: .nan, &rng)
                let scale = FloatBuffer(random: ch, &rng, -2, 2), shift = FloatBuffer(random: ch, &rng)
                let (out, expected) = outputs(s) { p, c in
                    Double(input[p * s.inStride + c]) * Double(scale[c]) + Double(shift[c])
                }
                mtz_scale_shift(isa, s.pixels, ch, input.base, s.inStride, scale.base, shift.base, out.base,
                                s.outStride)
                let m = firstMismatch(out, expected, abs: tolerance, rel: tolerance)
                #expect(m == nil, "\(isaName(isa)) channels \(ch): \(m ?? "")")

                mtz_scale_shift(isa, s.pixels, ch, input.base, s.inStride, scale.base, shift.base, input.base,
                                s.inStride)
                let mi = viewMismatch(input, stride: s.inStride, expected, s)
                #expect(mi == nil, "\(isaName(isa)) channels \(ch) in place: \(mi ?? "")")
            }
        }
    }

    @Test func copy() {
        var rng = KernelTestRNG(seed: 4)
        for ch in channelCounts {
            let s = ViewShape(ch)
            let input = stridedView(pixels: s.pixels, channels: ch, stride: s.inStride, gapValue: .nan, &rng)
            let (out, expected) = outputs(s) { p, c in Double(input[p * s.inStride + c]) }
            mtz_copy(s.pixels, ch, input.base, s.inStride, out.base, s.outStride)
            #expect(out.bitwiseEqual(expected), "channels \(ch)")
            // Dense views and an in-place no-op.
            let dense = FloatBuffer(random: s.pixels * ch, &rng), denseOut = FloatBuffer(count: s.pixels * ch)
            mtz_copy(s.pixels, ch, dense.base, ch, denseOut.base, ch)
            #expect(denseOut.bitwiseEqual(dense))
            mtz_copy(s.pixels, ch, dense.base, ch, dense.base, ch)
            #expect(denseOut.bitwiseEqual(dense))
        }
    }

    @Test func softmax() {
        var rng = KernelTestRNG(seed: 5)
        for isa in runnableISAs {
            let shapes: [(n: Int, offset: Float, spread: Float)] = [
                (1, 0, 1), (5, 0, 3), (17, 1000, 10), (1000, -500, 20),
            ]
            for (n, offset, spread) in shapes {
                let input = FloatBuffer(count: n)
                for i in 0..<n { input[i] = offset + rng.float(-spread, spread) }
                let out = FloatBuffer(count: n + 1, fill: outputSentinel)
                mtz_softmax(isa, n, input.base, out.base)
                let maxIn = (0..<n).map { Double(input[$0]) }.max()!
                let exps = (0..<n).map { exp(Double(input[$0]) - maxIn) }
                let sum = exps.reduce(0, +)
                let bad = (0..<n).first { abs(Double(out[$0]) - exps[$0] / sum) > 1e-6 + 1e-5 * exps[$0] / sum }
                #expect(bad == nil, "\(isaName(isa)) n \(n): first mismatch at \(bad ?? -1)")
                let total = (0..<n).reduce(0.0) { $0 + Double(out[$1]) }
                #expect(abs(total - 1) <= 1e-5, "\(isaName(isa)) n \(n): sum \(total)")
                #expect(out[n] == outputSentinel)

                // In place gives the same values.
                let inPlace = input.copy()
                mtz_softmax(isa, n, inPlace.base, inPlace.base)
                #expect((0..<n).allSatisfy { inPlace[$0] == out[$0] }, "\(isaName(isa)) n \(n) in place")
            }
        }
    }
}
