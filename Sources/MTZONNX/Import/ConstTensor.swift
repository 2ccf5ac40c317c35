import Foundation
import MTZCore

/// A tensor whose values are known while importing: an initializer, a `Constant`, or the folded
/// result of the shape arithmetic exporters emit (`Shape`, `Gather`, `Concat`, ...).
struct ConstTensor: Sendable {
    /// Values: floating-point tensors are kept as `Float`, integer and boolean ones as `Int64`.
    enum Values: Sendable {
        case float([Float])
        case int([Int64])
    }

    var shape: [Int]
    var values: Values

    init(shape: [Int], floats: [Float]) {
        self.shape = shape
        values = .float(floats)
    }

    init(shape: [Int], ints: [Int64]) {
        self.shape = shape
        values = .int(ints)
    }

    /// Number of elements.
    var count: Int {
        switch values {
        case .float(let a): a.count
        case .int(let a): a.count
        }
    }

    var isInteger: Bool {
        if case .int = values { return true }
        return false
    }

    /// The values as floats.
    var floats: [Float] {
        switch values {
        case .float(let a): a
        case .int(let a): a.map { Float($0) }
        }
    }

    /// The values as integers; floats must be integral and in range.
    func ints() throws(ONNXError) -> [Int64] {
        switch values {
        case .int(let a): return a
        case .float(let a):
            var out: [Int64] = []
            out.reserveCapacity(a.count)
            for v in a {
                guard v.isFinite, v == v.rounded(), abs(v) < 9.2e18 else {
                    throw ONNXError(.unsupported, "expected integer values, found \(v)")
                }
                out.append(Int64(v))
            }
            return out
        }
    }

    /// The values as `Int`s, each within `±2^40` (shape arithmetic never needs more).
    func smallInts() throws(ONNXError) -> [Int] {
        var out: [Int] = []
        for v in try ints() {
            // `magnitude`, not `abs`: abs(Int64.min) traps (found by FuzzONNX).
            guard v.magnitude <= 1 << 40 || v == Int64.max || v == Int64.min else {
                throw ONNXError(.unsupported, "integer value \(v) is out of range")
            }
            out.append(v == Int64.max ? Int(1 << 40) : v == Int64.min ? -Int(1 << 40) : Int(v))
        }
        return out
    }

    /// The only value of a one-element tensor.
    func scalarFloat() throws(ONNXError) -> Float {
        guard count == 1 else { throw ONNXError(.unsupported, "expected a single value, found a tensor of shape \(shape)") }
        return floats[0]
    }

    /// A copy with another shape of the same element count.
    func reshaped(_ newShape: [Int]) -> ConstTensor {
        var t = self
        t.shape = newShape
        return t
    }
}

/// Import-time limits that keep a hostile file from asking for absurd resources.
enum ImportLimits {
    /// Maximum elements of one constant tensor (as `ModelLimits.maxWeightElements`).
    static let maxElements = ModelLimits.maxWeightElements
    /// Maximum rank of any tensor.
    static let maxRank = 8
    /// Maximum bytes of an ONNX file (protobuf messages are limited to 2 GiB).
    static let maxFileBytes = Int(Int32.max)
}

/// Product of `shape` with overflow and limit checks; every dimension must be ≥ 0.
func checkedElementCount(_ shape: [Int], limit: Int = ImportLimits.maxElements) throws(ONNXError) -> Int {
    guard shape.count <= ImportLimits.maxRank else { throw ONNXError(.limit, "rank \(shape.count) exceeds \(ImportLimits.maxRank)") }
    var n = 1
    for d in shape {
        guard d >= 0 else { throw ONNXError(.shape, "negative dimension \(d) in \(shape)") }
        let (p, o) = n.multipliedReportingOverflow(by: d)
        guard !o, p <= limit else { throw ONNXError(.limit, "a tensor of shape \(shape) exceeds \(limit) elements") }
        n = p
    }
    return n
}

extension ConstTensor {
    /// Decodes an ONNX `TensorProto`, checking its shape, data type and byte counts.
    init(_ proto: Onnx_TensorProto) throws(ONNXError) {
        let name = proto.name
        if proto.dataLocation == .external || !proto.externalData.isEmpty {
            throw ONNXError(.externalData, "tensor '\(name)' keeps its data in an external file, which mtz does not read (save the model with all tensors inside the .onnx file)")
        }
        guard !proto.hasSegment else {
            throw ONNXError(.unsupported, "tensor '\(name)' is segmented")
        }
        var shape: [Int] = []
        for d in proto.dims {
            guard d >= 0, d <= Int64(ImportLimits.maxElements) else { throw ONNXError(.shape, "tensor '\(name)' has dimension \(d)") }
            shape.append(Int(d))
        }
        let count: Int
        do { count = try checkedElementCount(shape) } catch { throw ONNXError(error.kind, "tensor '\(name)': \(error.message)") }
        let raw = proto.rawData
        let hasRaw = proto.hasRawData
        func rawCheck(_ size: Int) throws(ONNXError) {
            guard raw.count == count * size else {
                throw ONNXError(.malformed, "tensor '\(name)' of shape \(shape) has \(raw.count) bytes of data, expected \(count * size)")
            }
        }
        func fieldCheck(_ n: Int) throws(ONNXError) {
            guard n == count else {
                throw ONNXError(.malformed, "tensor '\(name)' of shape \(shape) has \(n) values, expected \(count)")
            }
        }
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) else {
            throw ONNXError(.unsupported, "tensor '\(name)' has unknown data type \(proto.dataType)")
        }
        switch type {
        case .float:
            if hasRaw {
                try rawCheck(4)
                self.init(shape: shape, floats: raw.littleEndianValues(count: count, as: UInt32.self).map { Float(bitPattern: $0) })
            } else {
                try fieldCheck(proto.floatData.count)
                self.init(shape: shape, floats: proto.floatData)
            }
        case .double:
            if hasRaw {
                try rawCheck(8)
                self.init(shape: shape, floats: raw.littleEndianValues(count: count, as: UInt64.self).map { Float(Double(bitPattern: $0)) })
            } else {
                try fieldCheck(proto.doubleData.count)
                self.init(shape: shape, floats: proto.doubleData.map { Float($0) })
            }
        case .int64:
            if hasRaw {
                try rawCheck(8)
                self.init(shape: shape, ints: raw.littleEndianValues(count: count, as: UInt64.self).map { Int64(bitPattern: $0) })
            } else {
                try fieldCheck(proto.int64Data.count)
                self.init(shape: shape, ints: proto.int64Data)
            }
        case .int32:
            if hasRaw {
                try rawCheck(4)
                self.init(shape: shape, ints: raw.littleEndianValues(count: count, as: UInt32.self).map { Int64(Int32(bitPattern: $0)) })
            } else {
                try fieldCheck(proto.int32Data.count)
                self.init(shape: shape, ints: proto.int32Data.map { Int64($0) })
            }
        case .int8, .uint8, .bool, .int16, .uint16:
            let size = type == .int16 || type == .uint16 ? 2 : 1
            if hasRaw {
                try rawCheck(size)
                let bytes = [UInt8](raw)
                var ints: [Int64] = []
                ints.reserveCapacity(count)
                for i in 0..<count {
                    switch type {
                    case .int8: ints.append(Int64(Int8(bitPattern: bytes[i])))
                    case .int16: ints.append(Int64(Int16(bitPattern: UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8)))
                    case .uint16: ints.append(Int64(UInt16(bytes[2 * i]) | UInt16(bytes[2 * i + 1]) << 8))
                    default: ints.append(Int64(bytes[i]))
                    }
                }
                self.init(shape: shape, ints: ints)
            } else {
                try fieldCheck(proto.int32Data.count)
                self.init(shape: shape, ints: proto.int32Data.map { Int64($0) })
            }
        default:
            throw ONNXError(.unsupported, "tensor '\(name)' has data type \(type), which mtz does not import (float, double and integer types are supported)")
        }
    }

    /// An ONNX float tensor with these values (the exporter's initializers).
    static func proto(name: String, shape: [Int], floats: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        var bytes = Data(capacity: floats.count * 4)
        for v in floats { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        t.rawData = bytes
        return t
    }

    /// An ONNX int64 tensor (shapes, axes, slice bounds).
    static func proto(name: String, shape: [Int], ints: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = shape.map { Int64($0) }
        t.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        t.int64Data = ints
        return t
    }
}

extension Data {
    /// `count` little-endian fixed-width integers read from the start (the caller checked the size).
    func littleEndianValues<T: FixedWidthInteger>(count: Int, as: T.Type) -> [T] {
        withUnsafeBytes { raw in
            (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
    }
}
