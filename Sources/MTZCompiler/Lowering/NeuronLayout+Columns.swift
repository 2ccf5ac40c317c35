import MTZCore

extension NeuronLayout {
    /// Values in one stored weight row (`taps × inChannels`).
    var rowLength: Int { taps * inChannels }

    /// The shared input channels of every tap, `0..<sharedChannels`.
    var sharedRange: Range<Int> { 0..<sharedChannels }

    /// The task-specific input channels of every tap, `sharedChannels..<inChannels`.
    var specificRange: Range<Int> { sharedChannels..<inChannels }

    /// Column indices (within a stored row) of `channels` in every tap, tap by tap: the order in
    /// which a weight tensor sliced to those channels lists them.
    func columns(_ channels: Range<Int>) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(taps * channels.count)
        for t in 0..<taps {
            for c in channels { result.append(t * inChannels + c) }
        }
        return result
    }

    /// Rows `rows` of a row-major `[out][rowLength]` matrix restricted to `columns`, row by row.
    func gather(_ matrix: [Float], rows: Range<Int>, columns: [Int]) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(rows.count * columns.count)
        for o in rows {
            let base = o * rowLength
            for c in columns { out.append(matrix[base + c]) }
        }
        return out
    }

    /// Writes `values` (laid out as `gather` returns them) into rows `rows` × `columns` of `matrix`.
    func scatter(_ values: [Float], into matrix: inout [Float], rows: Range<Int>, columns: [Int]) {
        var i = 0
        for o in rows {
            let base = o * rowLength
            for c in columns {
                matrix[base + c] = values[i]
                i += 1
            }
        }
    }
}

extension ZipState {
    /// Index of the last dense layer: the task heads, never shared.
    public var headLayer: Int { layers.count - 1 }

    /// Where every dense layer's weights over its shared inputs sit, in layer order.
    ///
    /// Follows the chain from the input (whose channels all count as shared): a convolution's taps
    /// are its kernel positions; a fully connected layer's taps are the pixels of the value that
    /// was flattened before it (1 over a `1×1×C` value). Pass-through units keep the channels.
    public var neuronLayouts: [NeuronLayout] {
        var result: [NeuronLayout] = []
        var pixels = input.width * input.height
        var channels = input.channels
        var shared = input.channels
        for (u, unit) in units.enumerated() {
            switch unit {
            case .dense(let l):
                let layer = layers[l]
                let taps = layer.conv.map { $0.window.kernelH * $0.window.kernelW } ?? pixels
                result.append(NeuronLayout(taps: max(taps, 1), inChannels: channels, sharedChannels: min(shared, channels)))
                pixels = u < shapes.count ? shapes[u].pixels : 1
                channels = layer.outCount
                shared = layer.sharedCount
            case .passThrough(let p):
                switch p.op {
                case .flatten, .activation: break
                default: pixels = u < shapes.count ? shapes[u].pixels : pixels
                }
            }
        }
        return result
    }

    /// Where dense layer `layer`'s weights over its shared inputs sit (see `neuronLayouts`).
    public func neuronLayout(layer: Int) -> NeuronLayout { neuronLayouts[layer] }
}
