import MTZImage
import MTZRuntime
import Testing

/// The README's "Embedding (Swift)" example, so that it keeps compiling and giving what it says.
@Suite struct SwiftEmbeddingTests {
    @Test("the README's Swift example runs and finds the 7")
    func readmeExample() throws {
        let root = Repository.root + "/"  // the README's paths are relative to the repository
        var printed: [String] = []
        func print(_ items: Any...) { printed.append(items.map { "\($0)" }.joined(separator: " ")) }

        // --- README.md, "Embedding (Swift)" (paths prefixed with `root`) ---
        let model = try InferenceModel(contentsOf: root + "Models/lenet5-mnist-fashion-zipped.mtz")  // mmap, validate
        let session = try model.makeSession(tasks: ["mnist", "fashion"], threads: 1)       // one per thread
        let image = try ImageDecoder.decode(contentsOf: root + "Samples/mnist/test-0000-7.png")
        let scores = try session.run(image: image)                                         // task name -> [Float]
        for task in model.model.tasks where session.tasks.contains(task.name) {
            let s = scores[task.name]!
            let best = s.indices.max { s[$0] < s[$1] }!
            print(task.name, task.labels[best], s[best])                                   // mnist 7 0.99...
        }
        print("shared", session.timings.shared, "s, per task", session.timings.perTask)
        // --- end of the README example ---

        #expect(printed.first?.hasPrefix("mnist 7 ") == true, "\(printed)")
        #expect(printed.count == 3)
    }
}
