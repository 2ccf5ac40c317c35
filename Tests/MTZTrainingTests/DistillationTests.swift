import Foundation
import MTZCore
import MTZImage
import MTZRuntime
import MTZTestSupport
import Testing
@testable import MTZTraining

/// Knowledge distillation: the loss and its gradient, the teacher's outputs, and training towards a teacher.
@Suite struct DistillationTests {
    /// Distillation loss alone (weight 1) of one row set, and its gradient.
    static func distilled(_ logits: [Float], teacher: [Float], classes: Int, temperature: Float) -> (loss: Double, gradient: [Float]) {
        var gradient = [Float](repeating: 0, count: logits.count)
        let loss = SoftmaxCrossEntropy.addDistillation(
            logits: logits, teacher: teacher, batch: logits.count / classes, classes: classes, temperature: temperature,
            weight: 1, gradient: &gradient)
        return (loss, gradient)
    }

    @Test("the distillation gradient matches central finite differences", arguments: [Float(1), 2, 4])
    func finiteDifferences(temperature: Float) {
        var rng = SeededRandom(seed: 5)
        let classes = 5, batch = 3
        let logits = rng.floats(count: batch * classes, in: -3...3)
        let teacher = rng.floats(count: batch * classes, in: -6...0)
        let (_, analytic) = Self.distilled(logits, teacher: teacher, classes: classes, temperature: temperature)
        let eps: Float = 1e-2
        for k in logits.indices {
            var up = logits, down = logits
            up[k] += eps
            down[k] -= eps
            let numeric = (Self.distilled(up, teacher: teacher, classes: classes, temperature: temperature).loss
                - Self.distilled(down, teacher: teacher, classes: classes, temperature: temperature).loss) / Double(2 * eps)
            #expect(abs(Double(analytic[k]) - numeric) <= 1e-3 + 1e-2 * abs(numeric), "T \(temperature), logit \(k): \(analytic[k]) vs \(numeric)")
        }
    }

    @Test("a student that already agrees with its teacher has zero loss and gradient; any offset of the teacher's rows cancels")
    func agreement() {
        let logits: [Float] = [1, -2, 0.5, 3, 0, 0, 0, -1]
        // The teacher's rows are the same logits shifted by a constant per row (log-probabilities up to an offset).
        let teacher: [Float] = [1 - 7, -2 - 7, 0.5 - 7, 3 - 7, 0 + 2, 0 + 2, 0 + 2, -1 + 2]
        let (loss, gradient) = Self.distilled(logits, teacher: teacher, classes: 4, temperature: 2)
        #expect(abs(loss) < 1e-6)
        #expect(gradient.allSatisfy { abs($0) < 1e-6 })
        let (other, _) = Self.distilled(logits, teacher: [0, 0, 0, 0, 0, 0, 0, 0], classes: 4, temperature: 2)
        #expect(other > 0.01)
    }

    @Test("the teacher's log-probabilities are read from a softmax head and agree with its predictions")
    func teacherOutputs() throws {
        let images = try TrainingTests.mnist(.test, 64)
        let model = TrainingTests.lenet300(seed: 4)
        let loaded = try InferenceModel(model)
        let (values, classes) = try Distillation.teacherLogProbabilities(of: loaded, task: "digits", images: images, threads: 2)
        #expect(classes == 10 && values.count == 640)
        let session = try loaded.makeSession()
        let preprocessor = Preprocessor(spec: model.input)
        var input = [Float](repeating: 0, count: loaded.inputCount)
        for i in [0, 31, 63] {
            input.withUnsafeMutableBufferPointer { preprocessor.run(images.grayImage(at: i), into: $0) }
            let probabilities = try session.run(input: input)["digits"]!
            for k in 0..<10 {
                #expect(abs(exp(Double(values[i * 10 + k])) - Double(probabilities[k])) <= 1e-5, "image \(i) class \(k)")
            }
        }
        #expect(throws: TrainingError.self) { try Distillation.teacherLogProbabilities(of: loaded, task: "nope", images: images) }
    }

    @Test("distilling a trained network teaches an untrained one its predictions, without labels")
    func studentLearnsTeacher() throws {
        let train = try TrainingTests.mnist(.train, 2000)
        let test = try TrainingTests.mnist(.test, 300)
        let teacherModel = try TrainableModel(TrainingTests.lenet300(seed: 1))
        _ = try Trainer(model: teacherModel, options: TrainingOptions(epochs: 2, batchSize: 32, learningRate: 0.02, seed: 1))
            .train(["digits": TaskData(images: train)])
        let teacher = try InferenceModel(teacherModel.exportModel())
        let (values, classes) = try Distillation.teacherLogProbabilities(of: teacher, task: "digits", images: train, threads: 2)
        // Labels that are all wrong: whatever the student learns comes from the teacher (weight 1).
        let scrambled = LabeledImages(rows: 28, cols: 28, pixels: train.pixels, labels: train.labels.map { ($0 + 1) % 10 })
        let distillation = try Distillation(teacher: values, classes: classes, weight: 1, temperature: 2)
        let student = try TrainableModel(TrainingTests.lenet300(seed: 2))
        let trainer = try Trainer(model: student, options: TrainingOptions(epochs: 2, batchSize: 32, learningRate: 0.02, seed: 1))
        _ = try trainer.train(["digits": TaskData(images: scrambled, distillation: distillation)])
        let (error, _) = try trainer.evaluate(task: "digits", images: test)
        #expect(error < 0.3, "student test error \(error) after distilling (chance 0.9; the labels alone would teach the wrong digit)")
    }

    @Test("bad distillation settings are refused")
    func refusals() throws {
        #expect(throws: TrainingError.self) { try Distillation(teacher: [0, 0], classes: 2, weight: 1.5, temperature: 2) }
        #expect(throws: TrainingError.self) { try Distillation(teacher: [0, 0], classes: 2, weight: 0.5, temperature: 0) }
        #expect(throws: TrainingError.self) { try Distillation(teacher: [0, 0, 0], classes: 2, weight: 0.5, temperature: 2) }
        #expect(throws: TrainingError.self) { try Distillation(teacher: [0, .nan], classes: 2, weight: 0.5, temperature: 2) }
        // The teacher must cover every image with the model's classes.
        let images = try TrainingTests.mnist(.train, 10)
        let trainer = try Trainer(model: TrainableModel(TrainingTests.lenet300(seed: 1)), options: TrainingOptions(epochs: 1, batchSize: 5))
        let short = try Distillation(teacher: [Float](repeating: 0, count: 90), classes: 10, weight: 0.5, temperature: 2)
        #expect(throws: TrainingError.self) { try trainer.train(["digits": TaskData(images: images, distillation: short)]) }
        let wrongClasses = try Distillation(teacher: [Float](repeating: 0, count: 50), classes: 5, weight: 0.5, temperature: 2)
        #expect(throws: TrainingError.self) { try trainer.train(["digits": TaskData(images: images, distillation: wrongClasses)]) }
    }
}
