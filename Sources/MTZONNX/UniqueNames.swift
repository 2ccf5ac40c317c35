/// Hands out names not handed out before: `base` itself, else `base_2`, `base_3`, ...
struct UniqueNames {
    private var used: Set<String> = []

    /// A fresh name derived from `base` (or `fallback` when `base` is empty), now taken.
    mutating func claim(_ base: String, fallback: String) -> String {
        var name = base.isEmpty ? fallback : base
        if used.contains(name) {
            var k = 2
            while used.contains("\(name)_\(k)") { k += 1 }
            name = "\(name)_\(k)"
        }
        used.insert(name)
        return name
    }
}
