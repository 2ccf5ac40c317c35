/// NUL-terminated copies of strings in one allocation, lent to C for as long as the table lives.
///
/// Task names and labels are handed out as `const char *`, which must outlive the call that
/// returns them; Swift strings give no such pointer, so the model keeps these copies.
final class CStringTable {
    private let storage: UnsafeMutablePointer<CChar>
    private let starts: [Int]

    /// Copies `strings` (a string holding a NUL byte is cut there when C reads it).
    init(_ strings: [String]) {
        var starts: [Int] = []
        starts.reserveCapacity(strings.count)
        var total = 0
        for string in strings {
            starts.append(total)
            total += string.utf8.count + 1
        }
        storage = .allocate(capacity: max(total, 1))
        for (string, start) in zip(strings, starts) {
            var i = start
            for byte in string.utf8 {
                storage[i] = CChar(bitPattern: byte)
                i += 1
            }
            storage[i] = 0
        }
        self.starts = starts
    }

    deinit { storage.deallocate() }

    /// Number of strings.
    var count: Int { starts.count }

    /// String `i` as a C string, valid while the table lives.
    subscript(i: Int) -> UnsafePointer<CChar> { UnsafePointer(storage + starts[i]) }
}
