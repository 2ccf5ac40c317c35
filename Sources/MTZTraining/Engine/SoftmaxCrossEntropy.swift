#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax cross-entropy of a batch of logits against integer labels.
enum SoftmaxCrossEntropy {
    /// Mean loss over the batch and the number of samples whose top logit is the label. With
    /// `gradient`, also writes `d(mean loss)/d(logits) = (softmax − onehot) / batch`.
    static func evaluate(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
        gradient: UnsafeMutablePointer<Float>?
    ) -> (loss: Double, correct: Int) {
        var loss = 0.0
        var correct = 0
        let scale = 1 / Float(batch)
        for s in 0..<batch {
            let z = logits + s * classes
            let label = Int(labels[s])
            var best = 0
            var maxValue = z[0]
            for k in 1..<classes where z[k] > maxValue {
                maxValue = z[k]
                best = k
            }
            if best == label { correct += 1 }
            var sum: Float = 0
            for k in 0..<classes { sum += expf(z[k] - maxValue) }
            loss += Double(logf(sum) - (z[label] - maxValue))
            if let gradient {
                let g = gradient + s * classes
                for k in 0..<classes {
                    let p = expf(z[k] - maxValue) / sum
                    g[k] = (p - (k == label ? 1 : 0)) * scale
                }
            }
        }
        return (loss / Double(batch), correct)
    }
}
