/// A Swift object handed to C as an opaque pointer that holds one strong reference.
///
/// `retainedPointer()` gives C a +1 reference, `release(_:)` gives it back; in between, C calls
/// borrow the object with `borrow(_:)`, which neither retains nor releases.
protocol OpaqueHandle: AnyObject {
    /// What the handle is called in error messages ("model", "session").
    static var parameterName: String { get }
}

extension OpaqueHandle {
    /// A new +1 reference as an opaque C pointer.
    func retainedPointer() -> OpaquePointer {
        OpaquePointer(Unmanaged.passRetained(self).toOpaque())
    }

    /// The object behind a C handle, or an invalid-argument failure if it is NULL.
    static func borrow(_ pointer: OpaquePointer?) throws(APIError) -> Self {
        let pointer = try required(pointer, parameterName)
        return Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).takeUnretainedValue()
    }

    /// Gives back the reference C held; NULL is ignored.
    static func release(_ pointer: OpaquePointer?) {
        guard let pointer else { return }
        Unmanaged<Self>.fromOpaque(UnsafeRawPointer(pointer)).release()
    }
}
