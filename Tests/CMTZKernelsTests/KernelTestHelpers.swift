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
