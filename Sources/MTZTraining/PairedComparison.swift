#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Two models' top-1 predictions on the same labelled images, compared image by image.
///
/// Comparing two error rates measured on the same test images as if they were independent wastes
/// most of the information: both models get most images right (or wrong) together, and only the
/// *discordant* images — right for one model, wrong for the other — say which is better. McNemar's
/// test asks how likely a split of the discordant images at least as uneven as the observed one
/// would be if the two models were equally good (each discordant image a fair coin); it is exact
/// here (binomial tail), not the χ² approximation, so it stays valid for a handful of discordant
/// images.
public struct PairedComparison: Sendable, Codable, Equatable {
    /// Images compared.
    public var images: Int
    /// Mistakes of the first model (A) and of the second (B).
    public var errorsA: Int
    public var errorsB: Int
    /// Images A gets wrong and B right, and the other way round.
    public var onlyA: Int
    public var onlyB: Int
    /// Error rate of A minus error rate of B (negative: A is better).
    public var difference: Double
    /// Half-width of the 95 % confidence interval of `difference` (normal approximation for paired
    /// proportions; 0 when no image is discordant).
    public var halfWidth95: Double
    /// Two-sided exact McNemar p-value: the probability, if A and B were equally good, of a split of
    /// the `onlyA + onlyB` discordant images at least as uneven as this one (1 when none differ).
    public var pValue: Double

    /// Compares the predictions `a` and `b` (class per image, any negative value: no prediction,
    /// counted as a mistake) against `labels`. The three must have the same length.
    public init<Labels: Collection, A: Collection, B: Collection>(labels: Labels, a: A, b: B)
    where Labels.Element: BinaryInteger, A.Element: BinaryInteger, B.Element: BinaryInteger {
        precondition(labels.count == a.count && labels.count == b.count, "paired predictions must cover the same images")
        var errorsA = 0, errorsB = 0, onlyA = 0, onlyB = 0
        for ((label, pa), pb) in zip(zip(labels, a), b) {
            let wrongA = pa < 0 || Int(pa) != Int(label), wrongB = pb < 0 || Int(pb) != Int(label)
            if wrongA { errorsA += 1 }
            if wrongB { errorsB += 1 }
            if wrongA && !wrongB { onlyA += 1 }
            if wrongB && !wrongA { onlyB += 1 }
        }
        self.init(images: labels.count, errorsA: errorsA, errorsB: errorsB, onlyA: onlyA, onlyB: onlyB)
    }

    /// The comparison from its counts.
    public init(images: Int, errorsA: Int, errorsB: Int, onlyA: Int, onlyB: Int) {
        self.images = images
        self.errorsA = errorsA
        self.errorsB = errorsB
        self.onlyA = onlyA
        self.onlyB = onlyB
        let n = Double(max(images, 1))
        difference = Double(onlyA - onlyB) / n
        // Each image contributes d ∈ {-1, 0, 1}; the mean of d is `difference`.
        let variance = max(0, Double(onlyA + onlyB) / n - difference * difference)
        halfWidth95 = 1.959964 * (variance / n).squareRoot()
        pValue = Self.exactMcNemarP(onlyA, onlyB)
    }

    /// The comparison over the union of several comparisons' images (say, every task's test set):
    /// their counts summed. Its difference is that of the error rates over all those images, which
    /// for tasks with test sets of equal size is the difference of the tasks' average error.
    public init(pooling parts: [PairedComparison]) {
        self.init(images: parts.reduce(0) { $0 + $1.images }, errorsA: parts.reduce(0) { $0 + $1.errorsA },
                  errorsB: parts.reduce(0) { $0 + $1.errorsB }, onlyA: parts.reduce(0) { $0 + $1.onlyA },
                  onlyB: parts.reduce(0) { $0 + $1.onlyB })
    }

    /// Two-sided exact McNemar p-value for `b` and `c` discordant images: twice the binomial
    /// (n = b + c, p = 1/2) probability of at most min(b, c), capped at 1. Summed in log space, so
    /// it stays accurate for any n (2⁻ⁿ alone underflows a Double beyond n ≈ 1,074).
    public static func exactMcNemarP(_ b: Int, _ c: Int) -> Double {
        precondition(b >= 0 && c >= 0)
        let n = b + c, k = min(b, c)
        if n == 0 || b == c { return 1 }
        let logHalfToN = Double(n) * log(0.5)
        let logN = logGamma(Double(n) + 1)
        // log of C(n, i) / 2^n for i = 0...k, summed with log-sum-exp around the largest (i = k).
        let terms = (0...k).map { i in logN - logGamma(Double(i) + 1) - logGamma(Double(n - i) + 1) + logHalfToN }
        let top = terms[k]
        let tail = exp(top) * terms.reduce(0) { $0 + exp($1 - top) }
        return min(1, 2 * tail)
    }

    /// log Γ(x) for x > 0, by the reentrant `lgamma_r` (plain `lgamma` writes the global `signgam`,
    /// a data race when two threads compare at once).
    private static func logGamma(_ x: Double) -> Double {
        var sign: Int32 = 0
        return lgamma_r(x, &sign)
    }
}
