/// The worst element of a comparison between computed values and reference values.
///
/// The error of element `i` is `|actual[i] − expected[i]| / max(|expected[i]|, absFloor)`: relative
/// for values of magnitude at least `absFloor`, absolute (scaled by `1/absFloor`) for smaller ones.
/// Equal values (including equal infinities) have error 0; a NaN or an unequal infinity on either
/// side has error `.infinity`, and so does a length mismatch.
public struct FloatComparison: Sendable, Hashable, CustomStringConvertible {
    /// Index of the worst element (for a length mismatch: the shorter length).
    public var index: Int
    /// Error of the worst element (0 for two empty arrays).
    public var error: Float
    /// The computed value at `index`, if there is one.
    public var actual: Float?
    /// The reference value at `index`, if there is one.
    public var expected: Float?
    /// Number of computed values.
    public var actualCount: Int
    /// Number of reference values.
    public var expectedCount: Int

    /// Compares `actual` with the reference `expected`, element by element.
    ///
    /// - Complexity: O(n).
    public init(_ actual: [Float], _ expected: [Float], absFloor: Float = 1e-4) {
        precondition(absFloor > 0, "absFloor must be positive")
        actualCount = actual.count
        expectedCount = expected.count
        guard actual.count == expected.count else {
            index = min(actual.count, expected.count)
            error = .infinity
            self.actual = nil
            self.expected = nil
            return
        }
        var worst = 0
        var worstError: Float = 0
        for i in 0..<actual.count {
            let e = FloatComparison.elementError(actual[i], expected[i], absFloor: absFloor)
            if e > worstError {
                worst = i
                worstError = e
            }
        }
        index = worst
        error = worstError
        self.actual = actual.isEmpty ? nil : actual[worst]
        self.expected = expected.isEmpty ? nil : expected[worst]
    }

    /// The error of one element, as defined on the type.
    public static func elementError(_ actual: Float, _ expected: Float, absFloor: Float) -> Float {
        if actual == expected { return 0 }
        guard actual.isFinite, expected.isFinite else { return .infinity }
        return abs(actual - expected) / max(abs(expected), absFloor)
    }

    /// A one-line summary for a test failure message.
    public var description: String {
        if actualCount != expectedCount {
            return "length mismatch: \(actualCount) computed values, \(expectedCount) expected"
        }
        guard let a = actual, let e = expected else { return "no values compared" }
        return "worst error \(error) at index \(index) of \(actualCount): computed \(a), expected \(e)"
    }
}

/// The index and error of the worst element of `actual` compared with the reference `expected`.
///
/// See `FloatComparison` for the error definition; a length mismatch gives `.infinity`.
public func maxRelativeError(_ actual: [Float], _ expected: [Float], absFloor: Float = 1e-4) -> (index: Int, error: Float) {
    let c = FloatComparison(actual, expected, absFloor: absFloor)
    return (c.index, c.error)
}

/// True when the arrays have equal length and every `|actual − expected| ≤ absolute + relative·|expected|`.
///
/// NaNs are never close; equal infinities are.
public func isClose(_ actual: [Float], _ expected: [Float], relative: Float = 1e-4, absolute: Float = 1e-5) -> Bool {
    guard actual.count == expected.count else { return false }
    for (a, e) in zip(actual, expected) {
        if a == e { continue }
        guard a.isFinite, e.isFinite, abs(a - e) <= absolute + relative * abs(e) else { return false }
    }
    return true
}
