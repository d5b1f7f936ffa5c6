import CRabbitMQ
import Foundation

/// Owns the C memory handed to one rabbitmq-c call: strings, tables, property blocks. rabbitmq-c
/// copies what it sends, so everything is freed when the arena goes away.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for allocation in allocations { free(allocation) }
    }

    func bytes(_ string: String) -> amqp_bytes_t {
        var utf8 = string
        return utf8.withUTF8 { bytes($0) }
    }

    func bytes(_ buffer: UnsafeBufferPointer<UInt8>) -> amqp_bytes_t {
        guard buffer.count > 0, let memory = malloc(buffer.count) else {
            return escalator_amqp_empty_bytes()
        }
        allocations.append(memory)
        memory.copyMemory(from: buffer.baseAddress!, byteCount: buffer.count)
        return amqp_bytes_t(len: buffer.count, bytes: memory)
    }

    func bytes(_ array: [UInt8]) -> amqp_bytes_t {
        array.withUnsafeBufferPointer { bytes($0) }
    }

    func cString(_ string: String) -> UnsafePointer<CChar> {
        let memory = strdup(string)!
        allocations.append(UnsafeMutableRawPointer(memory))
        return UnsafePointer(memory)
    }

    func table(_ table: AMQPTable) -> amqp_table_t {
        guard !table.isEmpty else { return escalator_amqp_empty_table() }
        let entries = allocate(amqp_table_entry_t.self, count: table.count)
        // Sorted keys make the encoded bytes, and so republished duplicates, identical.
        for (index, key) in table.keys.sorted().enumerated() {
            entries[index] = amqp_table_entry_t(key: bytes(key), value: fieldValue(table[key]!))
        }
        return amqp_table_t(num_entries: Int32(table.count), entries: entries)
    }

    private func fieldValue(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .bool(let bool):
            field.kind = UInt8(AMQP_FIELD_KIND_BOOLEAN.rawValue)
            field.value.boolean = bool ? 1 : 0
        case .int(let int):
            field.kind = UInt8(AMQP_FIELD_KIND_I64.rawValue)
            field.value.i64 = int
        case .double(let double):
            field.kind = UInt8(AMQP_FIELD_KIND_F64.rawValue)
            field.value.f64 = double
        case .string(let string):
            field.kind = UInt8(AMQP_FIELD_KIND_UTF8.rawValue)
            field.value.bytes = bytes(string)
        case .bytes(let array):
            field.kind = UInt8(AMQP_FIELD_KIND_BYTES.rawValue)
            field.value.bytes = bytes(array)
        case .timestamp(let seconds):
            field.kind = UInt8(AMQP_FIELD_KIND_TIMESTAMP.rawValue)
            field.value.u64 = seconds
        case .table(let nested):
            field.kind = UInt8(AMQP_FIELD_KIND_TABLE.rawValue)
            field.value.table = table(nested)
        case .array(let elements):
            field.kind = UInt8(AMQP_FIELD_KIND_ARRAY.rawValue)
            let values = allocate(amqp_field_value_t.self, count: max(elements.count, 1))
            for (index, element) in elements.enumerated() { values[index] = fieldValue(element) }
            field.value.array = amqp_array_t(num_entries: Int32(elements.count), entries: values)
        case .void:
            field.kind = UInt8(AMQP_FIELD_KIND_VOID.rawValue)
        }
        return field
    }

    private func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let memory = calloc(count, MemoryLayout<T>.stride)!
        allocations.append(memory)
        return memory.bindMemory(to: T.self, capacity: count)
    }

    func properties(_ properties: MessageProperties) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags = UInt32(AMQP_BASIC_DELIVERY_MODE_FLAG)
        func set(_ value: String?, _ field: WritableKeyPath<amqp_basic_properties_t, amqp_bytes_t>, _ flag: Int32) {
            guard let value else { return }
            c[keyPath: field] = bytes(value)
            flags |= UInt32(flag)
        }
        set(properties.contentType, \.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG)
        set(properties.contentEncoding, \.content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG)
        set(properties.correlationID, \.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG)
        set(properties.replyTo, \.reply_to, AMQP_BASIC_REPLY_TO_FLAG)
        set(properties.expiration, \.expiration, AMQP_BASIC_EXPIRATION_FLAG)
        set(properties.messageID, \.message_id, AMQP_BASIC_MESSAGE_ID_FLAG)
        set(properties.type, \.type, AMQP_BASIC_TYPE_FLAG)
        set(properties.userID, \.user_id, AMQP_BASIC_USER_ID_FLAG)
        set(properties.appID, \.app_id, AMQP_BASIC_APP_ID_FLAG)
        if !properties.headers.isEmpty {
            c.headers = table(properties.headers)
            flags |= UInt32(AMQP_BASIC_HEADERS_FLAG)
        }
        c.delivery_mode = properties.persistent ? 2 : 1
        if let priority = properties.priority {
            c.priority = priority
            flags |= UInt32(AMQP_BASIC_PRIORITY_FLAG)
        }
        if let timestamp = properties.timestamp {
            c.timestamp = timestamp
            flags |= UInt32(AMQP_BASIC_TIMESTAMP_FLAG)
        }
        c._flags = flags
        return c
    }
}

extension String {
    init(amqpBytes bytes: amqp_bytes_t) {
        guard bytes.len > 0, let start = bytes.bytes else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: start, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    init(amqpBytes bytes: amqp_bytes_t) {
        guard bytes.len > 0, let start = bytes.bytes else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: start, count: bytes.len))
    }
}

extension AMQPFieldValue {
    init(_ field: amqp_field_value_t) {
        let value = field.value
        switch UInt32(field.kind) {
        case AMQP_FIELD_KIND_BOOLEAN.rawValue: self = .bool(value.boolean != 0)
        case AMQP_FIELD_KIND_I8.rawValue: self = .int(Int64(value.i8))
        case AMQP_FIELD_KIND_U8.rawValue: self = .int(Int64(value.u8))
        case AMQP_FIELD_KIND_I16.rawValue: self = .int(Int64(value.i16))
        case AMQP_FIELD_KIND_U16.rawValue: self = .int(Int64(value.u16))
        case AMQP_FIELD_KIND_I32.rawValue: self = .int(Int64(value.i32))
        case AMQP_FIELD_KIND_U32.rawValue: self = .int(Int64(value.u32))
        case AMQP_FIELD_KIND_I64.rawValue: self = .int(value.i64)
        case AMQP_FIELD_KIND_U64.rawValue: self = .int(Int64(truncatingIfNeeded: value.u64))
        case AMQP_FIELD_KIND_F32.rawValue: self = .double(Double(value.f32))
        case AMQP_FIELD_KIND_F64.rawValue: self = .double(value.f64)
        case AMQP_FIELD_KIND_DECIMAL.rawValue:
            var divisor = 1.0
            for _ in 0..<value.decimal.decimals { divisor *= 10 }
            self = .double(Double(value.decimal.value) / divisor)
        case AMQP_FIELD_KIND_UTF8.rawValue: self = .string(String(amqpBytes: value.bytes))
        case AMQP_FIELD_KIND_BYTES.rawValue: self = .bytes([UInt8](amqpBytes: value.bytes))
        case AMQP_FIELD_KIND_TIMESTAMP.rawValue: self = .timestamp(value.u64)
        case AMQP_FIELD_KIND_TABLE.rawValue: self = .table(AMQPTable(amqpTable: value.table))
        case AMQP_FIELD_KIND_ARRAY.rawValue:
            let array = value.array
            var elements: [AMQPFieldValue] = []
            if let entries = array.entries {
                for index in 0..<Int(array.num_entries) { elements.append(AMQPFieldValue(entries[index])) }
            }
            self = .array(elements)
        default: self = .void
        }
    }
}

extension Dictionary where Key == String, Value == AMQPFieldValue {
    init(amqpTable table: amqp_table_t) {
        self.init()
        guard let entries = table.entries else { return }
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            self[String(amqpBytes: entry.key)] = AMQPFieldValue(entry.value)
        }
    }
}

extension MessageProperties {
    init(amqpProperties c: amqp_basic_properties_t) {
        func has(_ flag: Int32) -> Bool { c._flags & UInt32(flag) != 0 }
        func string(_ field: KeyPath<amqp_basic_properties_t, amqp_bytes_t>, _ flag: Int32) -> String? {
            has(flag) ? String(amqpBytes: c[keyPath: field]) : nil
        }
        self.init(
            contentType: string(\.content_type, AMQP_BASIC_CONTENT_TYPE_FLAG),
            contentEncoding: string(\.content_encoding, AMQP_BASIC_CONTENT_ENCODING_FLAG),
            headers: has(AMQP_BASIC_HEADERS_FLAG) ? AMQPTable(amqpTable: c.headers) : [:],
            persistent: has(AMQP_BASIC_DELIVERY_MODE_FLAG) && c.delivery_mode == 2,
            priority: has(AMQP_BASIC_PRIORITY_FLAG) ? c.priority : nil,
            correlationID: string(\.correlation_id, AMQP_BASIC_CORRELATION_ID_FLAG),
            replyTo: string(\.reply_to, AMQP_BASIC_REPLY_TO_FLAG),
            expiration: string(\.expiration, AMQP_BASIC_EXPIRATION_FLAG),
            messageID: string(\.message_id, AMQP_BASIC_MESSAGE_ID_FLAG),
            timestamp: has(AMQP_BASIC_TIMESTAMP_FLAG) ? c.timestamp : nil,
            type: string(\.type, AMQP_BASIC_TYPE_FLAG),
            userID: string(\.user_id, AMQP_BASIC_USER_ID_FLAG),
            appID: string(\.app_id, AMQP_BASIC_APP_ID_FLAG)
        )
    }
}
