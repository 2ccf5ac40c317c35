import CMTZ
import Foundation
import Testing

/// Every way a C caller can get it wrong returns a status and a message; nothing traps.
@Suite struct CAPIErrorTests {
    @Test("NULL handles, strings and out-pointers: MTZ_ERROR_INVALID_ARGUMENT, outputs untouched")
    func nullArguments() throws {
        try CAPI.withSession { model, session in
            try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))

            var handle: OpaquePointer?
            var count = 0
            var index = 0
            var width = 0, height = 0, channels = 0
            var text: UnsafePointer<CChar>?
            var scores: UnsafePointer<Float>?
            var prediction = mtz_prediction()
            let pixel: [UInt8] = [0]
            let value: [Float] = [0]
            let invalid = MTZ_ERROR_INVALID_ARGUMENT
            let calls: [(String, mtz_status)] = [
                ("path", mtz_model_open(nil, &handle)),
                ("model", mtz_model_open(Repository.zippedModel, nil)),
                ("data", mtz_model_open_memory(nil, 0, &handle)),
                ("model", mtz_model_open_memory(pixel, 1, nil)),
                ("model", mtz_model_task_count(nil, &count)),
                ("count", mtz_model_task_count(model, nil)),
                ("model", mtz_model_task_name(nil, 0, &text)),
                ("name", mtz_model_task_name(model, 0, nil)),
                ("model", mtz_model_task_index(nil, "mnist", &index)),
                ("name", mtz_model_task_index(model, nil, &index)),
                ("task", mtz_model_task_index(model, "mnist", nil)),
                ("model", mtz_model_class_count(nil, 0, &count)),
                ("count", mtz_model_class_count(model, 0, nil)),
                ("model", mtz_model_label(nil, 0, 0, &text)),
                ("label", mtz_model_label(model, 0, 0, nil)),
                ("model", mtz_model_input_shape(nil, &width, &height, &channels)),
                ("width", mtz_model_input_shape(model, nil, &height, &channels)),
                ("height", mtz_model_input_shape(model, &width, nil, &channels)),
                ("channels", mtz_model_input_shape(model, &width, &height, nil)),
                ("model", mtz_session_create(nil, nil, 0, 1, &handle)),
                ("session", mtz_session_create(model, nil, 0, 1, nil)),
                ("tasks", mtz_session_create(model, nil, 1, 1, &handle)),
                ("tasks[0]", CAPI.withNullString { mtz_session_create(model, $0, 1, 1, &handle) }),
                ("session", mtz_session_task_count(nil, &count)),
                ("count", mtz_session_task_count(session, nil)),
                ("session", mtz_session_task_name(nil, 0, &text)),
                ("name", mtz_session_task_name(session, 0, nil)),
                ("session", mtz_session_task_index(nil, "mnist", &index)),
                ("name", mtz_session_task_index(session, nil, &index)),
                ("task", mtz_session_task_index(session, "mnist", nil)),
                ("session", mtz_session_run_file(nil, Repository.mnistSeven)),
                ("path", mtz_session_run_file(session, nil)),
                ("session", mtz_session_run_pixels(nil, pixel, 1, 1, 1, 1)),
                ("pixels", mtz_session_run_pixels(session, nil, 1, 1, 1, 1)),
                ("session", mtz_session_run_tensor(nil, value, 1)),
                ("input", mtz_session_run_tensor(session, nil, 784)),
                ("session", mtz_session_scores(nil, 0, &scores, &count)),
                ("scores", mtz_session_scores(session, 0, nil, &count)),
                ("count", mtz_session_scores(session, 0, &scores, nil)),
                ("session", mtz_session_top_k(nil, 0, 1, &prediction, &count)),
                ("predictions", mtz_session_top_k(session, 0, 1, nil, &count)),
                ("count", mtz_session_top_k(session, 0, 1, &prediction, nil)),
            ]
            for (parameter, status) in calls {
                #expect(status == invalid, "NULL \(parameter): \(String(cString: mtz_status_name(status)))")
            }
            // Each call above overwrote the message; the last one names its parameter.
            #expect(CAPI.lastError == "count is NULL")
            #expect(handle == nil && text == nil && scores == nil && prediction.label == nil)

            mtz_model_free(nil)
            mtz_session_free(nil)
        }
    }

    @Test("missing file: MTZ_ERROR_IO naming the path")
    func missingFiles() throws {
        var model: OpaquePointer?
        CAPI.expectFailure(mtz_model_open("/nonexistent/model.mtz", &model), MTZ_ERROR_IO, mentioning: "/nonexistent/model.mtz")
        #expect(model == nil)

        let loaded = try CAPI.openModel()
        defer { mtz_model_free(loaded) }
        let session = try CAPI.makeSession(loaded)
        defer { mtz_session_free(session) }
        CAPI.expectFailure(mtz_session_run_file(session, "/nonexistent/image.png"), MTZ_ERROR_IO, mentioning: "/nonexistent/image.png")
    }

    @Test("corrupt, truncated and empty model bytes: MTZ_ERROR_INVALID_MODEL, from memory and from a file")
    func corruptModels() throws {
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: Repository.zippedModel)))
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x55
        let cases: [(String, [UInt8], String)] = [
            ("flipped.mtz", flipped, "CRC"),
            ("truncated.mtz", Array(bytes.prefix(bytes.count / 3)), "file size"),
            ("text.mtz", Array("not a model".utf8), "header"),
        ]
        for (name, data, text) in cases {
            var model: OpaquePointer?
            CAPI.expectFailure(data.withUnsafeBytes { mtz_model_open_memory($0.baseAddress, $0.count, &model) },
                               MTZ_ERROR_INVALID_MODEL, mentioning: text)
            let path = try Repository.temporaryFile(name, bytes: data)
            CAPI.expectFailure(mtz_model_open(path, &model), MTZ_ERROR_INVALID_MODEL, mentioning: path)
            #expect(model == nil)
        }
        var model: OpaquePointer?
        let empty: [UInt8] = [0]
        CAPI.expectFailure(mtz_model_open_memory(empty, 0, &model), MTZ_ERROR_INVALID_MODEL, mentioning: "0 bytes")
        #expect(model == nil)
    }

    @Test("unknown tasks, bad indices and thread counts")
    func badSessionArguments() throws {
        let model = try CAPI.openModel()
        defer { mtz_model_free(model) }
        var session: OpaquePointer?
        let status = CAPI.withCStrings(["mnist", "digits"]) { mtz_session_create(model, $0, 2, 1, &session) }
        CAPI.expectFailure(status, MTZ_ERROR_UNKNOWN_TASK, mentioning: "digits")
        for threads in [0, 257, -1] {
            CAPI.expectFailure(mtz_session_create(model, nil, 0, threads, &session), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "thread count")
        }
        #expect(session == nil)

        var index = 0
        CAPI.expectFailure(mtz_model_task_index(model, "digits", &index), MTZ_ERROR_UNKNOWN_TASK, mentioning: "mnist, fashion")
        var text: UnsafePointer<CChar>?
        var count = 0
        CAPI.expectFailure(mtz_model_task_name(model, 2, &text), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "task index 2")
        CAPI.expectFailure(mtz_model_class_count(model, -1, &count), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "task index")
        CAPI.expectFailure(mtz_model_label(model, 0, 10, &text), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "class index 10")

        let fashion = try CAPI.makeSession(model, tasks: ["fashion"])
        defer { mtz_session_free(fashion) }
        CAPI.expectFailure(mtz_session_task_name(fashion, 1, &text), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "task index 1")
        try CAPI.ok(mtz_session_run_file(fashion, Repository.fashionBoot))
        var scores: UnsafePointer<Float>?
        CAPI.expectFailure(mtz_session_scores(fashion, 1, &scores, &count), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "task index 1")
        var prediction = mtz_prediction()
        CAPI.expectFailure(mtz_session_top_k(fashion, 1, 1, &prediction, &count), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "task index 1")
        CAPI.expectFailure(mtz_session_top_k(fashion, 0, -1, &prediction, &count), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "k ")
    }

    @Test("rows a stride apart: the packed rows' scores; a stride under a row or a short buffer is refused")
    func stridedPixels() throws {
        try CAPI.withSession { _, session in
            // A 30 x 20 RGB gradient, packed and in rows of 100 bytes (10 bytes of junk after each).
            let width = 30, height = 20, channels = 3, stride = 100
            var packed = [UInt8](), strided = [UInt8](repeating: 0xEE, count: (height - 1) * stride + width * channels)
            for y in 0..<height {
                for x in 0..<width * channels {
                    let v = UInt8((x * 7 + y * 13) % 256)
                    packed.append(v)
                    strided[y * stride + x] = v
                }
            }
            try CAPI.ok(mtz_session_run_pixels(session, packed, packed.count, width, height, channels))
            let want = try CAPI.allScores(session)
            try CAPI.ok(mtz_session_run_pixels_strided(session, strided, strided.count, width, height, channels, stride))
            #expect(try CAPI.allScores(session) == want)
            // The packed buffer with a stride of exactly one row is the same image.
            try CAPI.ok(mtz_session_run_pixels_strided(session, packed, packed.count, width, height, channels, width * channels))
            #expect(try CAPI.allScores(session) == want)
            CAPI.expectFailure(mtz_session_run_pixels_strided(session, strided, strided.count, width, height, channels, 89),
                               MTZ_ERROR_INVALID_ARGUMENT, mentioning: "row stride 89")
            CAPI.expectFailure(mtz_session_run_pixels_strided(session, strided, strided.count - 1, width, height, channels, stride),
                               MTZ_ERROR_SIZE_MISMATCH, mentioning: "need 1990")
            CAPI.expectFailure(mtz_session_run_pixels_strided(session, strided, strided.count, width, height, channels, Int.max / 2),
                               MTZ_ERROR_SIZE_MISMATCH, mentioning: "need more")
            CAPI.expectFailure(mtz_session_run_pixels_strided(session, nil, 0, width, height, channels, stride),
                               MTZ_ERROR_INVALID_ARGUMENT, mentioning: "pixels")
        }
    }

    @Test("buffers of the wrong size or shape: MTZ_ERROR_SIZE_MISMATCH / INVALID_ARGUMENT")
    func wrongBuffers() throws {
        try CAPI.withSession { _, session in
            let pixels = [UInt8](repeating: 128, count: 30 * 20 * 3)

            try CAPI.ok(mtz_session_run_pixels(session, pixels, pixels.count, 30, 20, 3))
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count - 1, 30, 20, 3), MTZ_ERROR_SIZE_MISMATCH, mentioning: "1799 bytes")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 20, 20, 3), MTZ_ERROR_SIZE_MISMATCH, mentioning: "needs 1200")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 1 << 40, 1 << 40, 3), MTZ_ERROR_SIZE_MISMATCH, mentioning: "bytes")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 0, 20, 3), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "0 x 20")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 30, -1, 3), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "image size")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 30, 20, 5), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "5 channels")
            CAPI.expectFailure(mtz_session_run_pixels(session, pixels, pixels.count, 30, 20, 0), MTZ_ERROR_INVALID_ARGUMENT, mentioning: "0 channels")

            let input = [Float](repeating: 0, count: 785)
            try CAPI.ok(mtz_session_run_tensor(session, input, 784))
            CAPI.expectFailure(mtz_session_run_tensor(session, input, 785), MTZ_ERROR_SIZE_MISMATCH, mentioning: "expects 784")
            CAPI.expectFailure(mtz_session_run_tensor(session, input, 0), MTZ_ERROR_SIZE_MISMATCH, mentioning: "0 values")
        }
    }

    @Test("files that are not images: MTZ_ERROR_INVALID_IMAGE naming the file")
    func invalidImages() throws {
        try CAPI.withSession { _, session in
            let png = [UInt8](try #require(FileManager.default.contents(atPath: Repository.mnistSeven)))
            let cases = [("text.png", Array("hello".utf8)), ("truncated.png", Array(png.prefix(png.count / 2))), ("empty.png", [])]
            for (name, bytes) in cases {
                let path = try Repository.temporaryFile(name, bytes: bytes)
                CAPI.expectFailure(mtz_session_run_file(session, path), MTZ_ERROR_INVALID_IMAGE, mentioning: path)
            }
        }
    }

    @Test("results before the first run and after a failed run: MTZ_ERROR_NO_RESULTS")
    func noResults() throws {
        try CAPI.withSession { _, session in
            var scores: UnsafePointer<Float>?
            var count = 0
            var prediction = mtz_prediction()
            CAPI.expectFailure(mtz_session_scores(session, 0, &scores, &count), MTZ_ERROR_NO_RESULTS, mentioning: "no results")
            CAPI.expectFailure(mtz_session_top_k(session, 0, 1, &prediction, &count), MTZ_ERROR_NO_RESULTS, mentioning: "no results")

            try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))
            try CAPI.ok(mtz_session_scores(session, 0, &scores, &count))
            #expect(mtz_session_run_file(session, "/nonexistent/image.png") == MTZ_ERROR_IO)
            CAPI.expectFailure(mtz_session_scores(session, 0, &scores, &count), MTZ_ERROR_NO_RESULTS, mentioning: "failed run")

            try CAPI.ok(mtz_session_run_file(session, Repository.mnistSeven))
            let input: [Float] = [0]
            #expect(mtz_session_run_tensor(session, input, 1) == MTZ_ERROR_SIZE_MISMATCH)
            CAPI.expectFailure(mtz_session_top_k(session, 0, 1, &prediction, &count), MTZ_ERROR_NO_RESULTS, mentioning: "failed run")
        }
    }
}

extension CAPI {
    /// Lends a one-element `const char *const *` array holding NULL.
    static func withNullString<R>(_ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let strings: [UnsafePointer<CChar>?] = [nil]
        return strings.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
