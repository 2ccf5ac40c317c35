import CMTZ
import MTZCore
import MTZRuntime

/// What an `mtz_model *` points to: the prepared model and the C strings handed out for it.
final class ModelHandle: OpaqueHandle {
    static let parameterName = "model"

    let model: InferenceModel
    /// Task names in model order.
    let taskNames: CStringTable
    /// Per task, one label per class ("class <i>" where the model has none, as `mtz run` prints).
    let labels: [CStringTable]

    init(_ model: InferenceModel) {
        self.model = model
        taskNames = CStringTable(model.taskNames)
        labels = model.model.tasks.map { task in
            let classes = model.shapes[task.output].elementCount
            return CStringTable(task.labels.isEmpty ? (0..<classes).map { "class \($0)" } : task.labels)
        }
    }

    /// Model index of the task called `name`.
    func taskIndex(_ name: String) throws(APIError) -> Int {
        guard let index = model.taskNames.firstIndex(of: name) else {
            throw APIError(status: MTZ_ERROR_UNKNOWN_TASK, message: RuntimeError.unknownTask(name, available: model.taskNames).description)
        }
        return index
    }
}

// MARK: - C entry points (documented in mtz.h)

@_cdecl("mtz_model_open")
public func mtzModelOpen(_ path: UnsafePointer<CChar>?, _ model: UnsafeMutablePointer<OpaquePointer?>?) -> mtz_status {
    apiCall {
        let model = try required(model, "model")
        let loaded = try InferenceModel(contentsOf: try string(path, "path"))
        model.pointee = ModelHandle(loaded).retainedPointer()
    }
}

@_cdecl("mtz_model_open_memory")
public func mtzModelOpenMemory(_ data: UnsafeRawPointer?, _ size: Int, _ model: UnsafeMutablePointer<OpaquePointer?>?) -> mtz_status {
    apiCall {
        let model = try required(model, "model")
        let data = try required(data, "data")
        guard size >= 0 else { throw APIError.invalidArgument("size \(UInt(bitPattern: size)) is larger than memory") }
        let bytes = Array(UnsafeRawBufferPointer(start: data, count: size))
        let (decoded, packed) = try ModelFile.decodeWithPackedWeights(bytes)
        let loaded = try InferenceModel(decoded, packedWeights: packed)
        model.pointee = ModelHandle(loaded).retainedPointer()
    }
}

@_cdecl("mtz_model_free")
public func mtzModelFree(_ model: OpaquePointer?) {
    ModelHandle.release(model)
}

@_cdecl("mtz_model_task_count")
public func mtzModelTaskCount(_ model: OpaquePointer?, _ count: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        try required(count, "count").pointee = handle.taskNames.count
    }
}

@_cdecl("mtz_model_task_name")
public func mtzModelTaskName(_ model: OpaquePointer?, _ task: Int, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let name = try required(name, "name")
        name.pointee = handle.taskNames[try checked(task, below: handle.taskNames.count, "task")]
    }
}

@_cdecl("mtz_model_task_index")
public func mtzModelTaskIndex(_ model: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ task: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let task = try required(task, "task")
        task.pointee = try handle.taskIndex(try string(name, "name"))
    }
}

@_cdecl("mtz_model_class_count")
public func mtzModelClassCount(_ model: OpaquePointer?, _ task: Int, _ count: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let count = try required(count, "count")
        count.pointee = handle.labels[try checked(task, below: handle.labels.count, "task")].count
    }
}

@_cdecl("mtz_model_label")
public func mtzModelLabel(_ model: OpaquePointer?, _ task: Int, _ index: Int,
                          _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let label = try required(label, "label")
        let labels = handle.labels[try checked(task, below: handle.labels.count, "task")]
        label.pointee = labels[try checked(index, below: labels.count, "class")]
    }
}

@_cdecl("mtz_model_input_shape")
public func mtzModelInputShape(_ model: OpaquePointer?, _ width: UnsafeMutablePointer<Int>?, _ height: UnsafeMutablePointer<Int>?,
                               _ channels: UnsafeMutablePointer<Int>?) -> mtz_status {
    apiCall {
        let handle = try ModelHandle.borrow(model)
        let (width, height, channels) = (try required(width, "width"), try required(height, "height"), try required(channels, "channels"))
        let input = handle.model.model.input
        width.pointee = input.width
        height.pointee = input.height
        channels.pointee = input.channels
    }
}
