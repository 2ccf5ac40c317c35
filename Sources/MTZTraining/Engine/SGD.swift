#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Stochastic gradient descent with momentum and weight decay (the PyTorch formulation:
/// `v ← μ·v + (g + λ·w)`, `w ← w − η·v`).
public struct SGD: Sendable {
    /// Momentum μ.
    public var momentum: Float
    /// L2 weight decay λ, applied to every parameter.
    public var weightDecay: Float
    private var velocity: [[Float]] = []

    /// Creates an optimiser.
    public init(momentum: Float = 0.9, weightDecay: Float = 5e-4) {
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    /// Applies one update with learning rate `learningRate` from the model's accumulated gradients,
    /// then clears them. An assembled tensor's gradient goes to its parts, which are updated; the
    /// tensor is then assembled again from them (see `TrainableModel`).
    public mutating func step(_ model: TrainableModel, learningRate: Float) {
        model.foldAssembledGradients()
        if velocity.count != model.values.count {
            // An assembled tensor is not updated itself (its parts are): no velocity.
            velocity = model.values.indices.map {
                [Float](repeating: 0, count: model.structure.weights[$0].assembly == nil ? model.values[$0].count : 0)
            }
        }
        let mu = momentum, decay = weightDecay, lr = learningRate
        for i in model.values.indices where model.structure.weights[i].assembly == nil {
            model.values[i].withUnsafeMutableBufferPointer { w in
                model.gradients[i].withUnsafeMutableBufferPointer { g in
                    velocity[i].withUnsafeMutableBufferPointer { v in
                        for k in 0..<w.count {
                            v[k] = mu * v[k] + g[k] + decay * w[k]
                            w[k] -= lr * v[k]
                            g[k] = 0
                        }
                    }
                }
            }
        }
        model.version += 1
        model.assembleValues()
    }
}

/// How the learning rate changes over training.
public enum LearningRateSchedule: String, Sendable, CaseIterable, Codable {
    /// The same rate throughout.
    case constant
    /// Cosine decay from the base rate to zero at the end of training.
    case cosine
    /// Divided by 10 at 50 % and again at 75 % of training.
    case step

    /// The rate at `progress` ∈ [0, 1] of training for base rate `base`.
    public func rate(base: Float, progress: Double) -> Float {
        switch self {
        case .constant: return base
        case .cosine: return base * Float(0.5 * (1 + cos(Double.pi * min(max(progress, 0), 1))))
        case .step: return progress < 0.5 ? base : (progress < 0.75 ? base / 10 : base / 100)
        }
    }
}
