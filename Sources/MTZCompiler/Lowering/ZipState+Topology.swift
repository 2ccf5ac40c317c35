import MTZCore

extension ZipState {
    /// Index of the last dense layer: the task heads, never shared.
    public var headLayer: Int { layers.count - 1 }

    /// The unit of dense layer `l`.
    public func unit(ofLayer l: Int) -> Int {
        guard let u = units.firstIndex(where: { if case .dense(let i) = $0 { i == l } else { false } }) else {
            preconditionFailure("ZipState: no unit for dense layer \(l)")
        }
        return u
    }

    /// Per unit: the channel space its value belongs to — the unit of the dense layer that started
    /// the space, or -1 for the network's input. A dense layer with an addend writes into the
    /// addend's space; pass-through units keep their input's space.
    public var spaces: [Int] {
        var result = [Int](repeating: -1, count: units.count)
        for (u, unit) in units.enumerated() {
            let link = links[u]
            switch unit {
            case .dense:
                result[u] = link.addend.map { result[$0] } ?? u
            case .passThrough:
                result[u] = link.input.map { result[$0] } ?? -1
            }
        }
        return result
    }

    /// The dense layers tied to layer `l` by residual adds (same channel space), `l` included, in order.
    public func tiedLayers(of l: Int) -> [Int] {
        let spaces = self.spaces
        let space = spaces[unit(ofLayer: l)]
        return units.indices.compactMap { u in
            if case .dense(let i) = units[u], spaces[u] == space { return i }
            return nil
        }
    }

    /// The dense layers whose input lies in the channel space of layer `l` (they read its channels).
    public func consumers(of l: Int) -> [Int] {
        let spaces = self.spaces
        let space = spaces[unit(ofLayer: l)]
        return units.indices.compactMap { u in
            guard case .dense(let i) = units[u], let input = links[u].input, spaces[input] == space else { return nil }
            return i
        }
    }

    /// Per unit: (channels per tap, shared channels, pixels that a fully connected layer reading the
    /// value sees as taps). Flatten keeps the channel order per pixel, so its value still has the
    /// channels of the map it flattened, at that map's pixels.
    var valueLayouts: [(channels: Int, shared: Int, pixels: Int)] {
        var result: [(channels: Int, shared: Int, pixels: Int)] = []
        let image = (channels: input.channels, shared: input.channels, pixels: input.width * input.height)
        for (u, unit) in units.enumerated() {
            let source = links[u].input.map { result[$0] } ?? image
            let pixels = u < shapes.count ? shapes[u].pixels : 1
            switch unit {
            case .dense(let l):
                result.append((layers[l].outCount, layers[l].sharedCount, pixels))
            case .passThrough(let p):
                switch p.op {
                case .flatten, .activation: result.append(source)
                default: result.append((source.channels, source.shared, pixels))
                }
            }
        }
        return result
    }

    /// Where every dense layer's weights over its shared inputs sit, in layer order.
    ///
    /// A convolution's taps are its kernel positions; a fully connected layer's taps are the pixels
    /// of the value that was flattened before it (1 over a `1×1×C` value). The network's input
    /// channels all count as shared.
    public var neuronLayouts: [NeuronLayout] {
        let values = valueLayouts
        let image = (channels: input.channels, shared: input.channels, pixels: input.width * input.height)
        var result: [NeuronLayout] = []
        for (u, unit) in units.enumerated() {
            guard case .dense(let l) = unit else { continue }
            let source = links[u].input.map { values[$0] } ?? image
            let taps = layers[l].conv.map { $0.window.kernelH * $0.window.kernelW } ?? source.pixels
            result.append(NeuronLayout(taps: max(taps, 1), inChannels: source.channels, sharedChannels: min(source.shared, source.channels)))
        }
        return result
    }

    /// Where dense layer `layer`'s weights over its shared inputs sit (see `neuronLayouts`).
    public func neuronLayout(layer: Int) -> NeuronLayout { neuronLayouts[layer] }
}
