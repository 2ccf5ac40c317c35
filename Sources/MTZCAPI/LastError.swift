#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The calling thread's message for `mtz_last_error()`.
///
/// A thread-local (pthread key) rather than a per-object message, so that calls that fail before
/// any handle exists — opening a model — report the same way as the others, and so that threads
/// sharing one model never see each other's messages. Each thread owns one malloc'ed copy, freed
/// when the next failure replaces it or when the thread exits.
enum LastError {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { free($0) }
        // Only fails when the process has used up its keys (PTHREAD_KEYS_MAX); nothing to recover.
        precondition(status == 0, "mtz: pthread_key_create failed (\(status))")
        return key
    }()

    /// Records `message` as this thread's last error.
    static func set(_ message: String) {
        free(pthread_getspecific(key))
        // strdup returns NULL when out of memory; `current` then reads as "".
        _ = message.withCString { pthread_setspecific(key, strdup($0)) }
    }

    /// This thread's last message, or "" when it has none.
    static var current: UnsafePointer<CChar> {
        guard let message = pthread_getspecific(key) else { return cString("") }
        return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
    }
}

/// A string literal as a C string: literals are stored NUL-terminated for the process's lifetime.
func cString(_ literal: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(literal.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: - C entry point (documented in mtz.h)

@_cdecl("mtz_last_error")
public func mtzLastError() -> UnsafePointer<CChar> {
    LastError.current
}
