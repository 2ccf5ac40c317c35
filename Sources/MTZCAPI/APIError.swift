import CMTZ
import MTZCore
import MTZImage
import MTZRuntime

/// A failed C API call: the status it returns and the message `mtz_last_error()` then gives.
struct APIError: Error {
    var status: mtz_status
    var message: String

    /// An `MTZ_ERROR_INVALID_ARGUMENT` failure.
    static func invalidArgument(_ message: String) -> APIError {
        APIError(status: MTZ_ERROR_INVALID_ARGUMENT, message: message)
    }

    init(status: mtz_status, message: String) {
        self.status = status
        self.message = message
    }

    /// Classifies an error thrown by the Swift libraries; the message is its description.
    init(_ error: any Error) {
        message = String(describing: error)
        switch error {
        case let error as APIError:
            self = error
        case let error as RuntimeError:
            status = switch error {
            case .unknownTask: MTZ_ERROR_UNKNOWN_TASK
            case .inputSizeMismatch: MTZ_ERROR_SIZE_MISMATCH
            case .invalidModel: MTZ_ERROR_INVALID_MODEL
            case .outOfMemory: MTZ_ERROR_OUT_OF_MEMORY
            case .invalidOption: MTZ_ERROR_INVALID_ARGUMENT
            }
        case let error as FormatError:
            status = error.kind == .io ? MTZ_ERROR_IO : MTZ_ERROR_INVALID_MODEL
        case is ModelError:
            status = MTZ_ERROR_INVALID_MODEL
        case let error as ImageError:
            status = switch error {
            case .fileUnreadable: MTZ_ERROR_IO
            case .outOfMemory: MTZ_ERROR_OUT_OF_MEMORY
            default: MTZ_ERROR_INVALID_IMAGE
            }
        default:
            status = MTZ_ERROR_INTERNAL
        }
    }
}

/// Runs the body of a C entry point and returns its status.
///
/// This is the boundary: C cannot unwind Swift errors, so every error is caught here, recorded for
/// `mtz_last_error()` and turned into a status. (Traps cannot be caught; the entry points check
/// their arguments before the Swift libraries' preconditions could fire.)
func apiCall(_ body: () throws -> Void) -> mtz_status {
    do {
        try body()
        return MTZ_OK
    } catch {
        let failure = APIError(error)
        LastError.set(failure.message)
        return failure.status
    }
}

/// `pointer`, or an invalid-argument failure naming the parameter when it is NULL.
func required<Pointer>(_ pointer: Pointer?, _ parameter: String) throws(APIError) -> Pointer {
    guard let pointer else { throw .invalidArgument("\(parameter) is NULL") }
    return pointer
}

/// `index` when it is below `count`, or an invalid-argument failure saying what it indexes.
func checked(_ index: Int, below count: Int, _ what: String) throws(APIError) -> Int {
    guard index >= 0, index < count else {
        throw .invalidArgument("\(what) index \(index) is out of range (there are \(count))")
    }
    return index
}

/// A C string argument as a Swift string (invalid UTF-8 repaired), or a failure if it is NULL.
func string(_ pointer: UnsafePointer<CChar>?, _ parameter: String) throws(APIError) -> String {
    String(cString: try required(pointer, parameter))
}

// MARK: - C entry point (documented in mtz.h)

@_cdecl("mtz_status_name")
public func mtzStatusName(_ status: mtz_status) -> UnsafePointer<CChar> {
    switch status {
    case MTZ_OK: cString("MTZ_OK")
    case MTZ_ERROR_INVALID_ARGUMENT: cString("MTZ_ERROR_INVALID_ARGUMENT")
    case MTZ_ERROR_IO: cString("MTZ_ERROR_IO")
    case MTZ_ERROR_INVALID_MODEL: cString("MTZ_ERROR_INVALID_MODEL")
    case MTZ_ERROR_INVALID_IMAGE: cString("MTZ_ERROR_INVALID_IMAGE")
    case MTZ_ERROR_UNKNOWN_TASK: cString("MTZ_ERROR_UNKNOWN_TASK")
    case MTZ_ERROR_SIZE_MISMATCH: cString("MTZ_ERROR_SIZE_MISMATCH")
    case MTZ_ERROR_NO_RESULTS: cString("MTZ_ERROR_NO_RESULTS")
    case MTZ_ERROR_OUT_OF_MEMORY: cString("MTZ_ERROR_OUT_OF_MEMORY")
    case MTZ_ERROR_INTERNAL: cString("MTZ_ERROR_INTERNAL")
    default: cString("unknown status")
    }
}
