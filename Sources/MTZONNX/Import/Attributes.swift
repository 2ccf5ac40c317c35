import Foundation

/// A node's attributes by name, with typed getters that report the node when a value has the
/// wrong type.
struct Attributes {
    private var byName: [String: Onnx_AttributeProto] = [:]

    init(_ node: Onnx_NodeProto) throws(ONNXError) {
        for a in node.attribute {
            guard byName[a.name] == nil else { throw ONNXError(.malformed, "attribute '\(a.name)' appears twice") }
            if !a.refAttrName.isEmpty { throw ONNXError(.unsupported, "attribute '\(a.name)' refers to a function attribute") }
            byName[a.name] = a
        }
    }

    /// Whether the attribute is present.
    func has(_ name: String) -> Bool { byName[name] != nil }

    /// Names of all attributes.
    var names: [String] { Array(byName.keys).sorted() }

    func int(_ name: String) throws(ONNXError) -> Int? {
        guard let a = byName[name] else { return nil }
        guard a.type == .int || (a.type == .undefined && a.hasI) else { throw wrongType(name, "an integer") }
        guard a.i.magnitude <= 1 << 40 else { throw ONNXError(.unsupported, "attribute '\(name)' = \(a.i) is out of range") }
        return Int(a.i)
    }

    func ints(_ name: String) throws(ONNXError) -> [Int]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .ints || (a.type == .undefined && !a.ints.isEmpty) else { throw wrongType(name, "a list of integers") }
        guard a.ints.count <= 64 else { throw ONNXError(.limit, "attribute '\(name)' has \(a.ints.count) values") }
        var out: [Int] = []
        for v in a.ints {
            guard v.magnitude <= 1 << 40 || v == Int64.max || v == Int64.min else { throw ONNXError(.unsupported, "attribute '\(name)' value \(v) is out of range") }
            out.append(v == Int64.max ? 1 << 40 : v == Int64.min ? -(1 << 40) : Int(v))
        }
        return out
    }

    func float(_ name: String) throws(ONNXError) -> Float? {
        guard let a = byName[name] else { return nil }
        guard a.type == .float || (a.type == .undefined && a.hasF) else { throw wrongType(name, "a float") }
        return a.f
    }

    func floats(_ name: String) throws(ONNXError) -> [Float]? {
        guard let a = byName[name] else { return nil }
        guard a.type == .floats || (a.type == .undefined && !a.floats.isEmpty) else { throw wrongType(name, "a list of floats") }
        return a.floats
    }

    func string(_ name: String) throws(ONNXError) -> String? {
        guard let a = byName[name] else { return nil }
        guard a.type == .string || (a.type == .undefined && a.hasS) else { throw wrongType(name, "a string") }
        guard let s = String(data: a.s, encoding: .utf8) else { throw ONNXError(.malformed, "attribute '\(name)' is not UTF-8") }
        return s
    }

    func tensor(_ name: String) throws(ONNXError) -> ConstTensor? {
        guard let a = byName[name] else { return nil }
        guard a.type == .tensor || (a.type == .undefined && a.hasT) else { throw wrongType(name, "a tensor") }
        return try ConstTensor(a.t)
    }

    private func wrongType(_ name: String, _ expected: String) -> ONNXError {
        ONNXError(.malformed, "attribute '\(name)' is not \(expected)")
    }
}
