import CMTZ
import Dispatch
import Foundation
import MTZCore
import MTZImage
import MTZRuntime
import Testing

/// The C API, called through `mtz.h` as a C program would, on the shipped default model.
@Suite struct CAPITests {
    @Test("model queries: tasks, classes, labels, input shape")
    func modelQueries() throws {
        let model = try CAPI.openModel()
        defer { mtz_model_free(model) }

        var count = 0
        try CAPI.ok(mtz_model_task_count(model, &count))
        #expect(count == 2)
        var names: [String] = []
        for task in 0..<count {
            var name: UnsafePointer<CChar>?
            try CAPI.ok(mtz_model_task_name(model, task, &name))
            names.append(String(cString: try #require(name)))
            var classes = 0
            try CAPI.ok(mtz_model_class_count(model, task, &classes))
            #expect(classes == 10)
        }
        #expect(names == ["mnist", "fashion"])

        var index = -1
        try CAPI.ok(mtz_model_task_index(model, "fashion", &index))
        #expect(index == 1)
        var label: UnsafePointer<CChar>?
        try CAPI.ok(mtz_model_label(model, 1, 9, &label))
        #expect(String(cString: try #require(label)) == "Ankle boot")
        try CAPI.ok(mtz_model_label(model, 0, 7, &label))
        #expect(String(cString: try #require(label)) == "7")

        var width = 0, height = 0, channels = 0
        try CAPI.ok(mtz_model_input_shape(model, &width, &height, &channels))
        #expect([width, height, channels] == [28, 28, 1] as [Int])
    }

    @Test("the default model gets the README's two samples right (MNIST 7, Fashion ankle boot)")
    func defaultModelOnSamples() throws {
        try CAPI.withSession { _, session in
            try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))
            #expect(try CAPI.top(session, 0, k: 1).first?.label == "7")
            try CAPI.ok(mtz_session_run_file(session, Repository.fashionBoot))
            let boot = try CAPI.top(session, 1, k: 1)
            #expect(boot.first?.label == "Ankle boot")
            #expect(boot.first?.index == 9)

            let scores = try CAPI.scores(session, 1)
            #expect(scores.count == 10)
            #expect(abs(scores.reduce(0, +) - 1) < 1e-4, "softmax outputs sum to 1")
            #expect(boot.first?.score == scores.max())
        }
    }

    @Test("run_file, run_pixels and run_tensor give the Swift API's scores exactly")
    func inputPathsAgreeWithSwift() throws {
        let loaded = try InferenceModel(contentsOf: Repository.zippedModel)
        let swiftSession = try loaded.makeSession()
        try CAPI.withSession { _, session in
            for path in [Repository.mnistSeven, Repository.fashionBoot] {
                let image = try ImageDecoder.decode(contentsOf: path)
                let outputs = try swiftSession.run(image: image)
                let expected = swiftSession.tasks.map { outputs[$0]! }

                try CAPI.ok(mtz_session_run_file(session, path))
                #expect(try CAPI.allScores(session) == expected, "run_file on \(path)")

                try CAPI.ok(mtz_session_run_pixels(session, image.pixels, image.pixels.count, image.width, image.height, image.channels))
                #expect(try CAPI.allScores(session) == expected, "run_pixels on \(path)")

                let input = preprocess(image, spec: loaded.model.input)
                try CAPI.ok(mtz_session_run_tensor(session, input, input.count))
                #expect(try CAPI.allScores(session) == expected, "run_tensor on \(path)")
            }
        }
    }

    @Test("run_pixels converts RGB and RGBA to the model's gray input")
    func pixelChannels() throws {
        try CAPI.withSession { _, session in
            let gray = try ImageDecoder.decode(contentsOf: Repository.mnistSeven)
            try CAPI.ok(mtz_session_run_pixels(session, gray.pixels, gray.pixels.count, gray.width, gray.height, 1))
            let expected = try CAPI.allScores(session)

            let rgb: [UInt8] = gray.pixels.flatMap { [$0, $0, $0] }
            let rgba: [UInt8] = gray.pixels.flatMap { [$0, $0, $0, 255] }
            for (pixels, channels) in [(rgb, 3), (rgba, 4)] {
                try CAPI.ok(mtz_session_run_pixels(session, pixels, pixels.count, gray.width, gray.height, channels))
                for (got, want) in zip(try CAPI.allScores(session), expected) {
                    // Luma weights sum to 1 up to float rounding, so the input differs by an ulp or so.
                    #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-4 }, "\(channels) channels")
                }
            }
        }
    }

    @Test("a model opened from memory runs like one opened from its file")
    func openFromMemory() throws {
        let bytes = try #require(FileManager.default.contents(atPath: Repository.zippedModel))
        var fromMemory: OpaquePointer?
        try CAPI.ok(bytes.withUnsafeBytes { mtz_model_open_memory($0.baseAddress, $0.count, &fromMemory) })
        let memoryModel = try #require(fromMemory)
        defer { mtz_model_free(memoryModel) }
        let fileModel = try CAPI.openModel()
        defer { mtz_model_free(fileModel) }

        var results: [[[Float]]] = []
        for model in [memoryModel, fileModel] {
            let session = try CAPI.makeSession(model)
            defer { mtz_session_free(session) }
            try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))
            results.append(try CAPI.allScores(session))
        }
        #expect(results[0] == results[1])
    }

    @Test("a session runs only the tasks it names, in model order, duplicates ignored")
    func taskSubsets() throws {
        let model = try CAPI.openModel()
        defer { mtz_model_free(model) }
        let both = try CAPI.makeSession(model, tasks: ["fashion", "mnist", "fashion"], threads: 2)
        defer { mtz_session_free(both) }
        let fashion = try CAPI.makeSession(model, tasks: ["fashion"])
        defer { mtz_session_free(fashion) }

        var count = 0
        try CAPI.ok(mtz_session_task_count(both, &count))
        #expect(count == 2)
        var name: UnsafePointer<CChar>?
        try CAPI.ok(mtz_session_task_name(both, 0, &name))
        #expect(String(cString: try #require(name)) == "mnist")

        try CAPI.ok(mtz_session_task_count(fashion, &count))
        #expect(count == 1)
        var index = -1
        try CAPI.ok(mtz_session_task_index(fashion, "fashion", &index))
        #expect(index == 0)
        CAPI.expectFailure(mtz_session_task_index(fashion, "mnist", &index), MTZ_ERROR_UNKNOWN_TASK, mentioning: "mnist")

        for session in [both, fashion] { try CAPI.ok(mtz_session_run_file(session, Repository.fashionBoot)) }
        #expect(try CAPI.scores(fashion, 0) == CAPI.scores(both, 1), "same scores with or without the other task")
    }

    @Test("top_k: best first, k larger than the class count, k = 0")
    func topK() throws {
        try CAPI.withSession { _, session in
            try CAPI.ok(mtz_session_run_file(session, Repository.fashionBoot))

            let scores = try CAPI.scores(session, 1)
            let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
            let all = try CAPI.top(session, 1, k: 12)
            #expect(all.map(\.index) == order)
            #expect(all.map(\.score) == order.map { scores[$0] })
            #expect(all[0].label == "Ankle boot")

            var count = 99
            try CAPI.ok(mtz_session_top_k(session, 1, 0, nil, &count))
            #expect(count == 0)
        }
    }

    @Test("a session keeps its model alive after mtz_model_free")
    func sessionOutlivesModel() throws {
        let model = try CAPI.openModel()
        let session = try CAPI.makeSession(model)
        defer { mtz_session_free(session) }
        mtz_model_free(model)

        try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))
        #expect(try CAPI.top(session, 0, k: 1).first?.label == "7")
        var name: UnsafePointer<CChar>?
        try CAPI.ok(mtz_session_task_name(session, 1, &name))
        #expect(String(cString: try #require(name)) == "fashion")
    }

    @Test("one model, a session per thread: every thread gets the single-thread scores")
    func sessionsOnManyThreads() throws {
        let model = try CAPI.openModel()
        defer { mtz_model_free(model) }
        let images = [Repository.mnistSeven, Repository.fashionBoot]
        let reference = try CAPI.makeSession(model)
        defer { mtz_session_free(reference) }
        let expected = try images.map { path in
            try CAPI.ok(mtz_session_run_file(reference, path))
            return try CAPI.allScores(reference)
        }

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var scores: [Int: [[Float]]] = [:]
            var failures: [String] = []
        }
        let results = Results()
        let shared = UncheckedModel(model)
        DispatchQueue.concurrentPerform(iterations: 8) { job in
            var session: OpaquePointer?
            var status = mtz_session_create(shared.pointer, nil, 0, 1 + job % 2, &session)
            var scores: [[Float]] = []
            for _ in 0..<3 where status == MTZ_OK {
                status = mtz_session_run_file(session, images[job % 2])
                if status == MTZ_OK, let s = try? CAPI.allScores(session!) { scores = s }
            }
            let message = status == MTZ_OK ? nil : CAPI.lastError
            mtz_session_free(session)
            results.lock.withLock {
                if let message { results.failures.append(message) } else { results.scores[job] = scores }
            }
        }
        #expect(results.failures.isEmpty)
        for job in 0..<8 {
            #expect(results.scores[job] == expected[job % 2], "thread \(job)")
        }
    }

    @Test("mtz_last_error is per thread and starts empty")
    func lastErrorPerThread() {
        final class Messages: @unchecked Sendable {
            let lock = NSLock()
            var before: [Int: String] = [:]
            var after: [Int: String] = [:]
        }
        let messages = Messages()
        let failed = DispatchSemaphore(value: 0), proceed = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        for i in 0..<2 {
            Thread {
                let before = String(cString: mtz_last_error())
                var model: OpaquePointer?
                _ = mtz_model_open("/nonexistent/thread-\(i).mtz", &model)
                // Both threads fail before either reads: a shared message would show the other's path.
                failed.signal()
                proceed.wait()
                let after = String(cString: mtz_last_error())
                messages.lock.withLock {
                    messages.before[i] = before
                    messages.after[i] = after
                }
                done.signal()
            }.start()
        }
        for _ in 0..<2 { failed.wait() }
        for _ in 0..<2 { proceed.signal() }
        for _ in 0..<2 { done.wait() }
        for i in 0..<2 {
            #expect(messages.before[i] == "", "a new thread has no message")
            #expect(messages.after[i]?.contains("thread-\(i).mtz") == true, "\(messages.after[i] ?? "nil")")
        }
    }

    @Test("status names")
    func statusNames() {
        #expect(String(cString: mtz_status_name(MTZ_OK)) == "MTZ_OK")
        #expect(String(cString: mtz_status_name(MTZ_ERROR_SIZE_MISMATCH)) == "MTZ_ERROR_SIZE_MISMATCH")
        #expect(String(cString: mtz_status_name(MTZ_ERROR_INTERNAL)) == "MTZ_ERROR_INTERNAL")
        #expect(String(cString: mtz_status_name(mtz_status(rawValue: 1234))) == "unknown status")
    }
}

/// A model handle carried to other threads; the C API makes a model safe to share.
struct UncheckedModel: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}
