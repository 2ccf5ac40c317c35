#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax cross-entropy of a batch of logits against integer labels, and the distillation loss
/// against a teacher's class probabilities.
enum SoftmaxCrossEntropy {
    /// Mean loss over the batch and the number of samples whose top logit is the label. With
    /// `gradient`, also writes `weight · d(mean loss)/d(logits) = weight · (softmax − onehot) / batch`.
    static func evaluate(
        logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
        gradient: UnsafeMutablePointer<Float>?, weight: Float = 1
    ) -> (loss: Double, correct: Int) {
        var loss = 0.0
        var correct = 0
        let scale = weight / Float(batch)
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

    /// Knowledge distillation (Hinton et al. 2015): the mean over the batch of
    /// `T² · KL(q ‖ s)`, where `q = softmax(teacher / T)` and `s = softmax(logits / T)`, with
    /// `teacher` the teacher's log-probabilities (any per-sample offset cancels). Adds
    /// `weight · d(mean loss)/d(logits) = weight · T · (s − q) / batch` to `gradient`.
    static func addDistillation(
        logits: UnsafePointer<Float>, teacher: UnsafePointer<Float>, batch: Int, classes: Int, temperature: Float,
        weight: Float, gradient: UnsafeMutablePointer<Float>
    ) -> Double {
        var loss = 0.0
        let invT = 1 / temperature
        let scale = weight * temperature / Float(batch)
        for s in 0..<batch {
            let z = logits + s * classes, t = teacher + s * classes, g = gradient + s * classes
            var zMax = -Float.infinity, tMax = -Float.infinity
            for k in 0..<classes {
                zMax = max(zMax, z[k] * invT)
                tMax = max(tMax, t[k] * invT)
            }
            var zSum: Float = 0, tSum: Float = 0
            for k in 0..<classes {
                zSum += expf(z[k] * invT - zMax)
                tSum += expf(t[k] * invT - tMax)
            }
            let zLog = logf(zSum), tLog = logf(tSum)
            var kl = 0.0
            for k in 0..<classes {
                let logS = z[k] * invT - zMax - zLog
                let logQ = t[k] * invT - tMax - tLog
                let q = expf(logQ)
                if q > 0 { kl += Double(q * (logQ - logS)) }
                g[k] += (expf(logS) - q) * scale
            }
            loss += kl * Double(temperature * temperature)
        }
        return loss / Double(batch)
    }
}
