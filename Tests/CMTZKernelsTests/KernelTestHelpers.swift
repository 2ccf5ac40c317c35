// Small generic helpers for the C kernel tests: seeded data, C-friendly float buffers, the list of
// runnable ISAs and tolerance comparison.
import MTZCore
import CMTZKernels
import Foundation
import MTZTestSupport

/// The kernel tests' seeded generator (the shared one from MTZTestSupport).
typealias KernelTestRNG = SeededRandom

extension SeededRandom {
    /// Uniform value in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * nextUnitFloat()
    }
}

/// A heap array of floats with a stable address, handed to C kernels for the duration of a test.
final class FloatBuffer {
    let count: Int
    let base: UnsafeMutablePointer<Float>

    init(count: Int, fill: Float = 0) {
        self.count = count
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: fill, count: max(count, 1))
    }

    convenience init(_ values: [Float]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { base[i] = v }
    }

    /// `count` values drawn from `rng` in [lo, hi).
    convenience init(random count: Int, _ rng: inout KernelTestRNG, _ lo: Float = -1, _ hi: Float = 1) {
        self.init(count: count)
        for i in 0..<count { base[i] = rng.float(lo, hi) }
    }

    deinit { base.deallocate() }

    subscript(i: Int) -> Float {
        get { base[i] }
        set { base[i] = newValue }
    }

    func copy() -> FloatBuffer {
        let c = FloatBuffer(count: count)
        c.base.update(from: base, count: count)
        return c
    }

    /// Bitwise equality (NaN payloads included).
    func bitwiseEqual(_ other: FloatBuffer) -> Bool {
        count == other.count && (0..<count).allSatisfy { base[$0].bitPattern == other.base[$0].bitPattern }
    }
}

/// A [pixels][channels] view with `stride` floats per pixel; the gap floats hold `gapValue`.
func stridedView(pixels: Int, channels: Int, stride: Int, gapValue: Float, _ rng: inout KernelTestRNG)
    -> FloatBuffer
{
    let b = FloatBuffer(count: pixels * stride, fill: gapValue)
    for p in 0..<pixels { for c in 0..<channels { b[p * stride + c] = rng.float() } }
    return b
}

/// Marker written into the gaps of output views; kernels must leave it untouched.
let outputSentinel: Float = -12345.5

/// Every ISA whose kernels can run on this machine (always includes scalar).
let runnableISAs: [mtz_isa] = (0..<Int(MTZ_ISA_COUNT)).map { mtz_isa(UInt32($0)) }
    .filter { mtz_isa_supported($0) == 1 }

func isaName(_ isa: mtz_isa) -> String { String(cString: mtz_isa_name(isa)) }

let allActivations: [mtz_activation] = [MTZ_ACT_NONE, MTZ_ACT_RELU, MTZ_ACT_RELU6, MTZ_ACT_SIGMOID, MTZ_ACT_TANH]

/// Double-precision activation, the test oracle.
func referenceActivation(_ x: Double, _ act: mtz_activation) -> Double {
    switch act {
    case MTZ_ACT_RELU: return max(x, 0)
    case MTZ_ACT_RELU6: return min(max(x, 0), 6)
    case MTZ_ACT_SIGMOID: return 1 / (1 + exp(-x))
    case MTZ_ACT_TANH: return tanh(x)
    default: return x
    }
}

/// Describes the first element where |actual - expected| > abs + rel * |expected| (a NaN on either
/// side that is not matched by a NaN on the other counts as a mismatch), or nil if all agree.
func firstMismatch(_ actual: FloatBuffer, _ expected: FloatBuffer, abs: Float, rel: Float) -> String? {
    guard actual.count == expected.count else { return "count \(actual.count) != \(expected.count)" }
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if a.isNaN && e.isNaN { continue }
        if a.isNaN || e.isNaN || Swift.abs(a - e) > abs + rel * Swift.abs(e) {
            return "index \(i): got \(a), expected \(e)"
        }
    }
    return nil
}

/// One NHWC pooling geometry (in_c == out_c == groups, dilation 1) with strided views.
struct PoolCase: CustomStringConvertible {
    var inH: Int, inW: Int, channels: Int, kH: Int, kW: Int, stride: Int
    var padTop = 0, padBottom = 0, padLeft = 0, padRight = 0
    var inGap = 0, outGap = 0

    var description: String {
        "in \(inH)x\(inW)x\(channels) k \(kH)x\(kW) s \(stride) pad t\(padTop) b\(padBottom) l\(padLeft) "
            + "r\(padRight) gaps \(inGap),\(outGap)"
    }

    var params: mtz_conv2d_params {
        mtz_conv2d_params(
            in_h: inH, in_w: inW, in_c: channels, in_pixel_stride: channels + inGap,
            out_h: (inH + padTop + padBottom - kH) / stride + 1, out_w: (inW + padLeft + padRight - kW) / stride + 1,
            out_c: channels, out_pixel_stride: channels + outGap, kernel_h: kH, kernel_w: kW,
            stride_h: stride, stride_w: stride, dilation_h: 1, dilation_w: 1,
            pad_top: padTop, pad_left: padLeft, groups: channels)
    }
}

/// Kernel sizes 1…5 (square and 1×3 / 3×1), strides 1…3, no / centred / asymmetric padding, and
/// input and output views with and without gaps: the grid both pooling directions are tested on.
func poolWindowGrid() -> [PoolCase] {
    var cases: [PoolCase] = []
    var n = 0
    for (kH, kW) in [(1, 1), (2, 2), (3, 3), (5, 5), (1, 3), (3, 1)] {
        for stride in 1...3 {
            n += 1
            var c = PoolCase(inH: 7, inW: 6, channels: [1, 3, 17, 33][n % 4], kH: kH, kW: kW, stride: stride)
            switch n % 3 {
            case 0: break
            case 1:
                c.padTop = (kH - 1) / 2
                c.padBottom = kH - 1 - c.padTop
                c.padLeft = kW - 1 - (kW - 1) / 2
                c.padRight = (kW - 1) / 2
            default:
                c.padTop = kH - 1
                c.padRight = kW - 1
            }
            c.inGap = n % 2 == 0 ? 2 : 0
            c.outGap = n % 4 < 2 ? 3 : 0
            cases.append(c)
        }
    }
    return cases
}
