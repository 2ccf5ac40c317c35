/// Where a neuron's weights over the *shared* inputs sit in a layer's stored weights, so that the
/// weight rows given to `HessianPair` line up with the Hessian's input order.
///
/// Weights are stored `[out][taps][inChannels]` (OHWI for convolutions with taps = kh·kw; taps = 1
/// for an FC layer over a vector; taps = H·W for an FC layer after flattening an NHWC map), with the
/// previous layer's shared channels first in every tap. The neuron vector is
/// `[w(tap 0, ch 0..<shared), w(tap 1, ch 0..<shared), …, bias]` of length taps·shared + 1 — the
/// order of im2col rows over the shared channel slice.
public struct NeuronLayout: Sendable, Equatable {
    /// Kernel taps (or flattened pixels) per neuron.
    public var taps: Int
    /// Input channels per tap in the stored weights.
    public var inChannels: Int
    /// Leading input channels per tap that are shared (`0...inChannels`).
    public var sharedChannels: Int

    /// Creates a layout.
    public init(taps: Int, inChannels: Int, sharedChannels: Int) {
        precondition(taps >= 1 && inChannels >= 0 && (0...inChannels).contains(sharedChannels), "NeuronLayout: bad sizes")
        self.taps = taps
        self.inChannels = inChannels
        self.sharedChannels = sharedChannels
    }

    /// n = taps · sharedChannels + 1: the length of a neuron vector (and the Hessian dimension).
    public var vectorLength: Int { taps * sharedChannels + 1 }

    /// One row per neuron `0..<biases.count`: its weights over the shared inputs, then its bias.
    public func neuronVectors(weights: [Float], biases: [Float]) -> Matrix {
        let out = biases.count, perNeuron = taps * inChannels, n = vectorLength
        precondition(weights.count == out * perNeuron, "NeuronLayout: \(weights.count) weights for \(out) neurons of \(perNeuron)")
        var m = Matrix(rows: out, cols: n)
        for o in 0..<out {
            for t in 0..<taps {
                for c in 0..<sharedChannels {
                    m.values[o * n + t * sharedChannels + c] = Double(weights[o * perNeuron + t * inChannels + c])
                }
            }
            m.values[o * n + n - 1] = Double(biases[o])
        }
        return m
    }

    /// Writes `vector` (length `vectorLength`) back as neuron `neuron`'s shared-input weights and
    /// bias; the weights over task-specific channels are left as they are.
    public func store(_ vector: [Double], neuron: Int, weights: inout [Float], biases: inout [Float]) {
        let perNeuron = taps * inChannels, n = vectorLength
        precondition(vector.count == n && neuron >= 0 && neuron < biases.count && weights.count == biases.count * perNeuron,
                     "NeuronLayout.store: sizes")
        for t in 0..<taps {
            for c in 0..<sharedChannels {
                weights[neuron * perNeuron + t * inChannels + c] = Float(vector[t * sharedChannels + c])
            }
        }
        biases[neuron] = Float(vector[n - 1])
    }
}
