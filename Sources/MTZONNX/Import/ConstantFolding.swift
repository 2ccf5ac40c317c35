import Foundation

extension GraphImporter {
    /// The value of a `Constant` node.
    func constantAttribute(_ attrs: Attributes) throws(ONNXError) -> ConstTensor {
        if let t = try attrs.tensor("value") { return t }
        if let f = try attrs.float("value_float") { return ConstTensor(shape: [], floats: [f]) }
        if let f = try attrs.floats("value_floats") { return ConstTensor(shape: [f.count], floats: f) }
        if let i = try attrs.int("value_int") { return ConstTensor(shape: [], ints: [Int64(i)]) }
        if let i = try attrs.ints("value_ints") { return ConstTensor(shape: [i.count], ints: i.map { Int64($0) }) }
        throw ONNXError(.unsupported, "Constant without a tensor, float or integer value (attributes: \(attrs.names.joined(separator: ", ")))")
    }

    /// The result of `op` on constant operands (nil entries are omitted optional inputs), or nil
    /// when `op` is not one the importer folds.
    func foldConstants(_ op: String, _ ins: [ConstTensor?], _ attrs: Attributes) throws(ONNXError) -> [ConstTensor]? {
        func input(_ i: Int) throws(ONNXError) -> ConstTensor {
            guard i < ins.count, let t = ins[i] else { throw ONNXError(.malformed, "input \(i) is missing") }
            return t
        }
        switch op {
        case "Identity", "Dropout":
            return [try input(0)]
        case "Cast":
            let t = try input(0)
            let to = try attrs.int("to") ?? 1
            switch to {
            case 1, 10, 11, 16: return [ConstTensor(shape: t.shape, floats: t.floats)]
            case 2, 3, 4, 5, 6, 7, 12, 13:
                if t.isInteger { return [t] }
                var ints: [Int64] = []
                for v in t.floats {
                    guard v.isFinite, abs(v) < 9.2e18 else { throw ONNXError(.unsupported, "Cast of \(v) to an integer type") }
                    ints.append(Int64(v.rounded(.towardZero)))
                }
                return [ConstTensor(shape: t.shape, ints: ints)]
            case 9: return [ConstTensor(shape: t.shape, ints: t.floats.map { $0 != 0 ? 1 : 0 })]
            default: throw ONNXError(.unsupported, "Cast to type \(to)")
            }
        case "Shape":
            return [try shapeOf(try input(0).shape, attrs)]
        case "ConstantOfShape":
            let dims = try input(0).smallInts()
            let count = try checkedElementCount(dims)
            let fill = try attrs.tensor("value") ?? ConstTensor(shape: [1], floats: [0])
            guard fill.count == 1 else { throw ONNXError(.malformed, "ConstantOfShape value has \(fill.count) elements") }
            switch fill.values {
            case .float(let f): return [ConstTensor(shape: dims, floats: [Float](repeating: f[0], count: count))]
            case .int(let i): return [ConstTensor(shape: dims, ints: [Int64](repeating: i[0], count: count))]
            }
        case "Unsqueeze", "Squeeze":
            let t = try input(0)
            let axes: [Int]
            if opset >= 13 { axes = try (ins.count > 1 ? ins[1] : nil)?.smallInts() ?? [] } else { axes = try attrs.ints("axes") ?? [] }
            return [t.reshaped(op == "Squeeze" ? try squeezed(t.shape, axes) : try unsqueezed(t.shape, axes))]
        case "Reshape":
            let t = try input(0)
            let target = opset < 5 ? (try attrs.ints("shape") ?? []) : try input(1).smallInts()
            return [t.reshaped(try resolveReshape(t.shape.isEmpty ? [] : t.shape, target))]
        case "Flatten":
            let t = try input(0)
            var axis = try attrs.int("axis") ?? 1
            if axis < 0 { axis += t.shape.count }
            guard (0...t.shape.count).contains(axis) else { throw ONNXError(.shape, "Flatten axis \(axis) of \(t.shape)") }
            return [t.reshaped([t.shape.prefix(axis).reduce(1, *), t.shape.dropFirst(axis).reduce(1, *)])]
        case "Concat":
            return [try concatConstants(ins.compactMap { $0 }, axis: try attrs.int("axis") ?? 0)]
        case "Gather":
            return [try gather(try input(0), try input(1), axis: try attrs.int("axis") ?? 0)]
        case "Add", "Sub", "Mul", "Div":
            return [try elementwise(op, try input(0), try input(1))]
        case "Transpose":
            let t = try input(0)
            return [try transposeConstant(t, perm: try attrs.ints("perm") ?? Array((0..<t.shape.count).reversed()))]
        case "Slice":
            guard opset >= 10 else { return nil }
            let t = try input(0)
            return [try sliceConstant(t, starts: try input(1).smallInts(), ends: try input(2).smallInts(),
                                      axes: try (ins.count > 3 ? ins[3] : nil)?.smallInts(),
                                      steps: try (ins.count > 4 ? ins[4] : nil)?.smallInts())]
        default:
            return nil
        }
    }

    func shapeOf(_ dims: [Int], _ attrs: Attributes) throws(ONNXError) -> ConstTensor {
        let rank = dims.count
        func clampAxis(_ a: Int) -> Int { min(max(a < 0 ? a + rank : a, 0), rank) }
        let start = clampAxis(try attrs.int("start") ?? 0)
        let end = clampAxis(try attrs.int("end") ?? rank)
        let part = start < end ? Array(dims[start..<end]) : []
        return ConstTensor(shape: [part.count], ints: part.map { Int64($0) })
    }

    func squeezed(_ dims: [Int], _ axes: [Int]) throws(ONNXError) -> [Int] {
        if axes.isEmpty { return dims.filter { $0 != 1 } }
        let normal = try Set(axes.map { (a) throws(ONNXError) -> Int in
            let n = a < 0 ? a + dims.count : a
            guard (0..<dims.count).contains(n), dims[n] == 1 else { throw ONNXError(.shape, "cannot squeeze axis \(a) of \(dims)") }
            return n
        })
        return dims.enumerated().filter { !normal.contains($0.offset) }.map(\.element)
    }

    func unsqueezed(_ dims: [Int], _ axes: [Int]) throws(ONNXError) -> [Int] {
        let rank = dims.count + axes.count
        guard rank <= ImportLimits.maxRank else { throw ONNXError(.limit, "unsqueezing \(dims) by \(axes)") }
        let normal = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard normal.count == axes.count, normal.allSatisfy({ (0..<rank).contains($0) }) else {
            throw ONNXError(.shape, "cannot unsqueeze \(dims) at axes \(axes)")
        }
        var out: [Int] = []
        var k = 0
        for i in 0..<rank {
            if normal.contains(i) { out.append(1) } else { out.append(dims[k]); k += 1 }
        }
        return out
    }

    private func strides(_ shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Element indices into `t` for every element of a tensor of shape `outShape`, where `source`
    /// maps an output multi-index to an index into `t`.
    private func gatherIndices(outShape: [Int], _ source: ([Int]) -> Int) throws(ONNXError) -> [Int] {
        let count = try checkedElementCount(outShape)
        var result: [Int] = []
        result.reserveCapacity(count)
        var index = [Int](repeating: 0, count: outShape.count)
        for _ in 0..<count {
            result.append(source(index))
            var d = outShape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outShape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return result
    }

    private func pick(_ t: ConstTensor, _ indices: [Int], shape: [Int]) -> ConstTensor {
        switch t.values {
        case .float(let a): ConstTensor(shape: shape, floats: indices.map { a[$0] })
        case .int(let a): ConstTensor(shape: shape, ints: indices.map { a[$0] })
        }
    }

    func concatConstants(_ parts: [ConstTensor], axis rawAxis: Int) throws(ONNXError) -> ConstTensor {
        guard let first = parts.first else { throw ONNXError(.malformed, "Concat without inputs") }
        let rank = first.shape.count
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        guard (0..<rank).contains(axis) else { throw ONNXError(.shape, "Concat axis \(rawAxis) of rank \(rank)") }
        var shape = first.shape
        shape[axis] = 0
        for p in parts {
            guard p.shape.count == rank, (0..<rank).allSatisfy({ $0 == axis || p.shape[$0] == first.shape[$0] }) else {
                throw ONNXError(.shape, "cannot concatenate \(first.shape) and \(p.shape)")
            }
            shape[axis] += p.shape[axis]
        }
        _ = try checkedElementCount(shape)
        let outer = shape.prefix(axis).reduce(1, *)
        let integer = parts.allSatisfy(\.isInteger)
        var floats: [Float] = [], ints: [Int64] = []
        for o in 0..<outer {
            for p in parts {
                let inner = p.shape.dropFirst(axis).reduce(1, *)
                let range = (o * inner)..<((o + 1) * inner)
                if integer { ints += (try p.ints())[range] } else { floats += p.floats[range] }
            }
        }
        return integer ? ConstTensor(shape: shape, ints: ints) : ConstTensor(shape: shape, floats: floats)
    }

    func gather(_ data: ConstTensor, _ indices: ConstTensor, axis rawAxis: Int) throws(ONNXError) -> ConstTensor {
        let rank = data.shape.count
        let axis = rawAxis < 0 ? rawAxis + rank : rawAxis
        guard (0..<rank).contains(axis) else { throw ONNXError(.shape, "Gather axis \(rawAxis) of \(data.shape)") }
        let n = data.shape[axis]
        let idx = try indices.smallInts().map { $0 < 0 ? $0 + n : $0 }
        guard idx.allSatisfy({ (0..<n).contains($0) }) else { throw ONNXError(.shape, "Gather index out of range 0..<\(n)") }
        let outShape = Array(data.shape.prefix(axis)) + indices.shape + Array(data.shape.dropFirst(axis + 1))
        let st = strides(data.shape)
        let ir = indices.shape.count
        let picked = try gatherIndices(outShape: outShape) { o in
            var flatIndex = 0
            for i in 0..<ir { flatIndex = flatIndex * indices.shape[i] + o[axis + i] }
            var offset = idx[flatIndex] * st[axis]
            for d in 0..<axis { offset += o[d] * st[d] }
            for d in (axis + 1)..<max(rank, axis + 1) { offset += o[d - 1 + ir] * st[d] }
            return offset
        }
        return pick(data, picked, shape: outShape)
    }

    func transposeConstant(_ t: ConstTensor, perm: [Int]) throws(ONNXError) -> ConstTensor {
        guard perm.count == t.shape.count, Set(perm) == Set(0..<t.shape.count) else {
            throw ONNXError(.shape, "Transpose perm \(perm) of \(t.shape)")
        }
        let outShape = perm.map { t.shape[$0] }
        let st = strides(t.shape)
        let picked = try gatherIndices(outShape: outShape) { o in
            var offset = 0
            for (k, p) in perm.enumerated() { offset += o[k] * st[p] }
            return offset
        }
        return pick(t, picked, shape: outShape)
    }

    func sliceConstant(_ t: ConstTensor, starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws(ONNXError) -> ConstTensor {
        let rank = t.shape.count
        let axes = axes ?? Array(0..<starts.count)
        let steps = steps ?? [Int](repeating: 1, count: starts.count)
        guard ends.count == starts.count, axes.count == starts.count, steps.count == starts.count else {
            throw ONNXError(.malformed, "Slice operand counts differ")
        }
        var lo = [Int](repeating: 0, count: rank), step = [Int](repeating: 1, count: rank)
        var outShape = t.shape
        for k in axes.indices {
            let axis = axes[k] < 0 ? axes[k] + rank : axes[k]
            guard (0..<rank).contains(axis), steps[k] != 0 else { throw ONNXError(.shape, "Slice axis \(axes[k]) of \(t.shape)") }
            let n = t.shape[axis]
            var s = starts[k] < 0 ? starts[k] + n : starts[k]
            var e = ends[k] < 0 ? ends[k] + n : ends[k]
            if steps[k] > 0 {
                s = min(max(s, 0), n)
                e = min(max(e, 0), n)
                outShape[axis] = max(0, (e - s + steps[k] - 1) / steps[k])
            } else {
                s = min(max(s, 0), n - 1)
                e = min(max(e, -1), n - 1)
                outShape[axis] = max(0, (s - e + (-steps[k]) - 1) / (-steps[k]))
            }
            lo[axis] = s
            step[axis] = steps[k]
        }
        let st = strides(t.shape)
        let picked = try gatherIndices(outShape: outShape) { o in
            var offset = 0
            for d in 0..<rank { offset += (lo[d] + o[d] * step[d]) * st[d] }
            return offset
        }
        return pick(t, picked, shape: outShape)
    }

    func elementwise(_ op: String, _ a: ConstTensor, _ b: ConstTensor) throws(ONNXError) -> ConstTensor {
        let rank = max(a.shape.count, b.shape.count)
        let sa = [Int](repeating: 1, count: rank - a.shape.count) + a.shape
        let sb = [Int](repeating: 1, count: rank - b.shape.count) + b.shape
        var outShape: [Int] = []
        for d in 0..<rank {
            guard sa[d] == sb[d] || sa[d] == 1 || sb[d] == 1 else { throw ONNXError(.shape, "cannot broadcast \(a.shape) and \(b.shape)") }
            outShape.append(sa[d] == 1 ? sb[d] : sa[d])
        }
        let stA = strides(sa), stB = strides(sb)
        let ia = try gatherIndices(outShape: outShape) { o in (0..<rank).reduce(0) { $0 + (sa[$1] == 1 ? 0 : o[$1] * stA[$1]) } }
        let ib = try gatherIndices(outShape: outShape) { o in (0..<rank).reduce(0) { $0 + (sb[$1] == 1 ? 0 : o[$1] * stB[$1]) } }
        if a.isInteger && b.isInteger {
            let x = try a.ints(), y = try b.ints()
            var out: [Int64] = []
            for k in ia.indices {
                let (p, q) = (x[ia[k]], y[ib[k]])
                switch op {
                case "Add": out.append(p &+ q)
                case "Sub": out.append(p &- q)
                case "Mul": out.append(p &* q)
                default:
                    let (quotient, overflow) = p.dividedReportingOverflow(by: q)
                    guard q != 0, !overflow else { throw ONNXError(.unsupported, "integer division \(p) / \(q)") }
                    out.append(quotient)
                }
            }
            return ConstTensor(shape: outShape, ints: out)
        }
        let x = a.floats, y = b.floats
        var out: [Float] = []
        for k in ia.indices {
            let (p, q) = (x[ia[k]], y[ib[k]])
            switch op {
            case "Add": out.append(p + q)
            case "Sub": out.append(p - q)
            case "Mul": out.append(p * q)
            default: out.append(p / q)
            }
        }
        return ConstTensor(shape: outShape, floats: out)
    }
}
