import ArgumentParser
import MTZCore
import MTZImage
import MTZRuntime
import MTZTraining
import MTZCompiler
import MTZONNX

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Exit codes of the `mtz` command (sysexits.h).
enum Exit {
    /// Bad command line.
    static let usage = ExitCode(64)
    /// Bad model, image or data.
    static let data = ExitCode(65)
    /// Anything else.
    static let other = ExitCode(1)
}

/// Writes a line to standard error.
func printError(_ message: String) {
    let line = message + "\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
}

/// The exit code for an error a library threw.
func exitCode(for error: any Error) -> ExitCode {
    switch error {
    case let e as RuntimeError:
        switch e {
        case .unknownTask, .invalidOption, .inputSizeMismatch: return Exit.usage
        case .invalidModel: return Exit.data
        case .outOfMemory: return Exit.other
        }
    case is ModelError, is FormatError, is ImageError, is DatasetError, is ONNXError:
        return Exit.data
    case let e as ZipError:
        switch e {
        case .invalidOption: return Exit.usage
        case .incompatible, .numerical: return Exit.data
        }
    case let e as TrainingError:
        switch e {
        case .invalidOption, .unknownTask: return Exit.usage
        case .invalidModel: return Exit.data
        }
    default:
        return Exit.other
    }
}

/// Prints `error` as `mtz: error: ...` on standard error and returns the exit code to leave with.
func report(_ error: any Error, context: String? = nil) -> ExitCode {
    let text = String(describing: error)
    // Errors that name their file already (FormatError does) are not prefixed with it again.
    let prefix = context.map { text.hasPrefix("\($0): ") ? "" : "\($0): " } ?? ""
    printError("mtz: error: \(prefix)\(text)")
    return exitCode(for: error)
}

/// Loads a model for inference, mapping failures to a printed error and an exit code.
func loadModel(_ path: String, isa: KernelISA? = nil, convolutions: ConvolutionPolicy = .automatic) throws(ExitCode) -> InferenceModel {
    do {
        return try InferenceModel(contentsOf: path, isa: isa, convolutions: convolutions)
    } catch {
        throw report(error, context: path)
    }
}
