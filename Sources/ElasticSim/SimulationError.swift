/// An error that stops a simulation before it starts: bad data files, a bad scenario, a
/// topology that cannot be simulated. The description is one line that names the file, line
/// or option and says what to do.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    /// What kind of input was wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case missingFile, malformedData, unknownAS, disconnectedTopology, invalidScenario, outputFailed
        }
        private let base: Base
        /// A data file or scenario file does not exist or cannot be read.
        public static let missingFile = Code(base: .missingFile)
        /// A data file has a line that does not parse.
        public static let malformedData = Code(base: .malformedData)
        /// An AS number is referenced but not defined.
        public static let unknownAS = Code(base: .unknownAS)
        /// Some viewers cannot reach the origin.
        public static let disconnectedTopology = Code(base: .disconnectedTopology)
        /// A scenario file or option has a value that is missing, malformed or impossible.
        public static let invalidScenario = Code(base: .invalidScenario)
        /// A result file cannot be written.
        public static let outputFailed = Code(base: .outputFailed)

        public var description: String { "\(base)" }
    }

    public var code: Code
    /// Where: `file:line`, `file: key.path`, or an option name.
    public var location: String
    public var message: String

    public init(_ code: Code, _ location: String, _ message: String) {
        self.code = code
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}
