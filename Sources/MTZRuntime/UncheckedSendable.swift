/// Carries a value into a `@Sendable` closure when the caller guarantees the accesses are disjoint
/// (e.g. each thread of a `concurrentPerform` writes its own output range or slot).
package struct UncheckedSendable<T>: @unchecked Sendable {
    package let value: T
    package init(_ value: T) { self.value = value }
}
