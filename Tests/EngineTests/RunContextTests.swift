import Testing
import Engine

@Suite struct RunContextTests {
    @Test func cancelledContextThrowsBetweenSteps() {
        let context = RunContext(isCancelled: { true })
        #expect(throws: OperationCancelled.self) { try context.checkCancelled() }
        #expect(StepProgress(step: 3, total: 4).fraction == 0.75)
    }
}
