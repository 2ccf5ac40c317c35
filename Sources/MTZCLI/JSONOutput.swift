import Foundation

/// Prints a value as pretty, key-sorted JSON on standard output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    print(String(decoding: data, as: UTF8.self))
}

/// Formats seconds as milliseconds with 3 decimals.
func milliseconds(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }

/// Formats a byte count with a binary unit.
func byteString(_ bytes: Int) -> String {
    let b = Double(bytes)
    if b >= Double(1 << 20) { return String(format: "%.2f MiB", b / Double(1 << 20)) }
    if b >= Double(1 << 10) { return String(format: "%.1f KiB", b / Double(1 << 10)) }
    return "\(bytes) B"
}

/// Formats a count with thousands separators.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    var out = ""
    for (i, ch) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return n < 0 ? "-" + out : out
}

/// "1 iteration", "2,591 iterations": a count and its noun, plural unless the count is 1.
func counted(_ n: Int, _ noun: String) -> String {
    "\(grouped(n)) \(noun)\(n == 1 ? "" : "s")"
}

/// Pads `s` on the right (or left) to `width` characters.
func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - s.count))
    return left ? fill + s : s + fill
}
