import CMTZKernels
import MTZCore

/// An instruction-set family the kernels are compiled for.
public enum KernelISA: String, Sendable, CaseIterable, Codable {
    case scalar
    case avx2
    case avx512
    case neon

    /// The ISA the runtime uses by default: the best the CPU supports, capped by `MTZ_ISA`.
    public static var selected: KernelISA { KernelISA(mtz_isa_selected()) }

    /// A message if the `MTZ_ISA` environment variable names an unknown or unsupported ISA.
    public static var environmentError: String? { mtz_isa_env_error().map { String(cString: $0) } }

    /// Every ISA this build and CPU can run.
    public static var supported: [KernelISA] { allCases.filter(\.isSupported) }

    /// Whether this build and CPU can run the ISA.
    public var isSupported: Bool { mtz_isa_supported(raw) != 0 }

    /// Microkernel tile rows × columns.
    public var gemmTile: (mr: Int, nr: Int) { (mtz_gemm_mr(raw), mtz_gemm_nr(raw)) }

    init(_ raw: mtz_isa) {
        switch raw {
        case MTZ_ISA_AVX2: self = .avx2
        case MTZ_ISA_AVX512: self = .avx512
        case MTZ_ISA_NEON: self = .neon
        default: self = .scalar
        }
    }

    /// The ISA's code in a model file's `PACK` entries (the C enum's value).
    public var code: UInt32 { raw.rawValue }

    /// The C enum value.
    package var raw: mtz_isa {
        switch self {
        case .scalar: MTZ_ISA_SCALAR
        case .avx2: MTZ_ISA_AVX2
        case .avx512: MTZ_ISA_AVX512
        case .neon: MTZ_ISA_NEON
        }
    }
}

extension MTZCore.Activation {
    /// The C enum value.
    package var kernel: mtz_activation {
        switch self {
        case .none: MTZ_ACT_NONE
        case .relu: MTZ_ACT_RELU
        case .relu6: MTZ_ACT_RELU6
        case .sigmoid: MTZ_ACT_SIGMOID
        case .tanh: MTZ_ACT_TANH
        }
    }
}
