PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES('v1: incidents, inbox, due times, outbox, timeline, parcels');
INSERT INTO grdb_migrations VALUES('v2: due times findable by when they become claimable');
INSERT INTO grdb_migrations VALUES('v3: inbox and outbox indexed by time, not by incident');
INSERT INTO grdb_migrations VALUES('v4: each incident''s unpublished messages belong to one relay');
CREATE TABLE incident (
    id TEXT PRIMARY KEY NOT NULL,
    incident_key TEXT NOT NULL,
    type TEXT NOT NULL,
    severity INTEGER NOT NULL,
    title TEXT NOT NULL,
    drill INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    resolved_at INTEGER,
    state BLOB NOT NULL,
    version INTEGER NOT NULL
, outbox_owner TEXT, outbox_owned_at INTEGER);
INSERT INTO incident VALUES('inc-key-1','key-1','warehouse-fire',2,'key-1',0,1800000004000,NULL,X'7b226964223a22696e632d6b65792d31222c226b6579223a226b65792d31222c2274797065223a2277617265686f7573652d66697265222c227365766572697479223a322c227469746c65223a226b65792d31222c226472696c6c223a66616c73652c226f70656e65644174223a313830303030303030343030302c226465706172746d656e7473223a5b7b226465706172746d656e74223a226f7065726174696f6e73222c22656e67616765644174223a313830303030303030343030302c22726561736f6e223a7b2261637469766174696f6e223a7b7d7d2c2270726f6772657373223a7b22706167696e67223a7b225f30223a7b22726f756e64223a312c2273746570223a317d2c22646561646c696e65223a313830303030303330343030307d7d2c2266757274686573745061676564223a7b22726f756e64223a312c2273746570223a317d2c22666972737450616765644174223a313830303030303030343030307d5d2c2273746174757353657175656e6365223a342c22636164656e63654e756d626572223a312c22616666656374656450617263656c73223a307d',4,'3F892D7B-5FCF-4489-B67B-3A38D6BB111C',1800000004000);
INSERT INTO incident VALUES('inc-key-2','key-2','warehouse-fire',2,'key-2',0,1800000011000,NULL,X'7b226964223a22696e632d6b65792d32222c226b6579223a226b65792d32222c2274797065223a2277617265686f7573652d66697265222c227365766572697479223a322c227469746c65223a226b65792d32222c226472696c6c223a66616c73652c226f70656e65644174223a313830303030303031313030302c226465706172746d656e7473223a5b7b226465706172746d656e74223a226f7065726174696f6e73222c22656e67616765644174223a313830303030303031313030302c22726561736f6e223a7b2261637469766174696f6e223a7b7d7d2c2270726f6772657373223a7b22706167696e67223a7b225f30223a7b22726f756e64223a312c2273746570223a317d2c22646561646c696e65223a313830303030303331313030307d7d2c2266757274686573745061676564223a7b22726f756e64223a312c2273746570223a317d2c22666972737450616765644174223a313830303030303031313030307d5d2c2273746174757353657175656e6365223a342c22636164656e63654e756d626572223a312c22616666656374656450617263656c73223a307d',4,'3F892D7B-5FCF-4489-B67B-3A38D6BB111C',1800000011000);
INSERT INTO incident VALUES('inc-key-0','key-0','warehouse-fire',2,'key-0',0,1800000006000,NULL,X'7b226964223a22696e632d6b65792d30222c226b6579223a226b65792d30222c2274797065223a2277617265686f7573652d66697265222c227365766572697479223a322c227469746c65223a226b65792d30222c226472696c6c223a66616c73652c226f70656e65644174223a313830303030303030363030302c226465706172746d656e7473223a5b7b226465706172746d656e74223a226f7065726174696f6e73222c22656e67616765644174223a313830303030303030363030302c22726561736f6e223a7b2261637469766174696f6e223a7b7d7d2c2270726f6772657373223a7b22706167696e67223a7b225f30223a7b22726f756e64223a312c2273746570223a317d2c22646561646c696e65223a313830303030303330363030307d7d2c2266757274686573745061676564223a7b22726f756e64223a312c2273746570223a317d2c22666972737450616765644174223a313830303030303030363030307d5d2c2273746174757353657175656e6365223a342c22636164656e63654e756d626572223a312c22616666656374656450617263656c73223a307d',4,'3F892D7B-5FCF-4489-B67B-3A38D6BB111C',1800000006000);
CREATE TABLE inbox (
    message_id TEXT PRIMARY KEY NOT NULL,
    incident_id TEXT,
    processed_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO inbox VALUES('incident:evt-0','inc-key-0',1800000000000);
INSERT INTO inbox VALUES('incident:evt-1','inc-key-1',1800000001000);
INSERT INTO inbox VALUES('incident:evt-10','inc-key-1',1800000010000);
INSERT INTO inbox VALUES('incident:evt-11','inc-key-2',1800000011000);
INSERT INTO inbox VALUES('incident:evt-2','inc-key-2',1800000002000);
INSERT INTO inbox VALUES('incident:evt-3','inc-key-0',1800000003000);
INSERT INTO inbox VALUES('incident:evt-4','inc-key-1',1800000004000);
INSERT INTO inbox VALUES('incident:evt-5','inc-key-2',1800000005000);
INSERT INTO inbox VALUES('incident:evt-6','inc-key-0',1800000006000);
INSERT INTO inbox VALUES('incident:evt-7','inc-key-1',1800000007000);
INSERT INTO inbox VALUES('incident:evt-8','inc-key-2',1800000008000);
INSERT INTO inbox VALUES('incident:evt-9','inc-key-0',1800000009000);
CREATE TABLE due_time (
    incident_id TEXT NOT NULL,
    due_id TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    claim_token TEXT,
    claimed_until INTEGER,
    PRIMARY KEY (incident_id, due_id)
) WITHOUT ROWID;
INSERT INTO due_time VALUES('inc-key-0','step:operations:1:1',1800000306000,NULL,NULL);
INSERT INTO due_time VALUES('inc-key-1','step:operations:1:1',1800000304000,'claimed-before-v5',1800000400000);
INSERT INTO due_time VALUES('inc-key-2','step:operations:1:1',1800000311000,NULL,NULL);
CREATE TABLE outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    incident_id TEXT,
    exchange TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    published_at INTEGER
);
INSERT INTO outbox VALUES(1,'page:inc-key-1:operations:1:1:lee','inc-key-1','pages','page.sms.operations','{"contentType":"application/json","correlationID":"page:inc-key-1:operations:1:1:lee","headers":{},"persistent":true,"replyTo":"escalator.replies"}',X'7b22636f6e74616374223a226c6565222c226964223a22706167653a696e632d6b65792d313a6f7065726174696f6e733a313a313a6c6565222c22696e636964656e745f6964223a22696e632d6b65792d31222c22736368656d61223a22706167652e7631227d',1800000004000,1800000009000);
INSERT INTO outbox VALUES(2,'status:inc-key-1:1','inc-key-1','status','status.warehouse-fire.open','{"contentType":"application/json","headers":{},"persistent":true}',X'7b226964223a227374617475733a696e632d6b65792d313a31222c22736368656d61223a227374617475732e7631222c22736571223a2231222c227374617465223a226f70656e227d',1800000004000,NULL);
INSERT INTO outbox VALUES(3,'page:inc-key-2:operations:1:1:lee','inc-key-2','pages','page.sms.operations','{"contentType":"application/json","correlationID":"page:inc-key-2:operations:1:1:lee","headers":{},"persistent":true,"replyTo":"escalator.replies"}',X'7b22636f6e74616374223a226c6565222c226964223a22706167653a696e632d6b65792d323a6f7065726174696f6e733a313a313a6c6565222c22696e636964656e745f6964223a22696e632d6b65792d32222c22736368656d61223a22706167652e7631227d',1800000011000,NULL);
INSERT INTO outbox VALUES(4,'status:inc-key-2:1','inc-key-2','status','status.warehouse-fire.open','{"contentType":"application/json","headers":{},"persistent":true}',X'7b226964223a227374617475733a696e632d6b65792d323a31222c22736368656d61223a227374617475732e7631222c22736571223a2231222c227374617465223a226f70656e227d',1800000011000,NULL);
CREATE TABLE timeline (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    department TEXT,
    contact TEXT,
    channel TEXT,
    reference TEXT,
    since_first_page_ms INTEGER,
    summary TEXT NOT NULL,
    detail TEXT NOT NULL
);
INSERT INTO timeline VALUES(1,'inc-key-1',1800000004000,'opened',NULL,NULL,NULL,NULL,NULL,'opened: warehouse-fire, severity II','{"drill":"false","severity":"2","type":"warehouse-fire"}');
INSERT INTO timeline VALUES(2,'inc-key-1',1800000004000,'department-engaged','operations',NULL,NULL,NULL,NULL,'operations engaged (activation rule)','{"reason":"activation rule"}');
INSERT INTO timeline VALUES(3,'inc-key-1',1800000004000,'page','operations','lee','sms','page:inc-key-1:operations:1:1:lee',NULL,'paged lee of operations by sms (round 1 step 1)','{"ack_deadline":"1800000304000","drill":"false","reason":"department engaged: activation rule"}');
INSERT INTO timeline VALUES(4,'inc-key-1',1800000004000,'status-update',NULL,NULL,NULL,'status:inc-key-1:1',NULL,'status update 1: open, opened','{"reason":"opened","seq":"1","state":"open"}');
INSERT INTO timeline VALUES(5,'inc-key-1',1800000004000,'counted',NULL,NULL,NULL,'incident:evt-4',NULL,'counted incident:evt-4','{}');
INSERT INTO timeline VALUES(6,'inc-key-1',1800000001000,'counted',NULL,NULL,NULL,'incident:evt-1',NULL,'counted incident:evt-1','{}');
INSERT INTO timeline VALUES(7,'inc-key-2',1800000011000,'opened',NULL,NULL,NULL,NULL,NULL,'opened: warehouse-fire, severity II','{"drill":"false","severity":"2","type":"warehouse-fire"}');
INSERT INTO timeline VALUES(8,'inc-key-2',1800000011000,'department-engaged','operations',NULL,NULL,NULL,NULL,'operations engaged (activation rule)','{"reason":"activation rule"}');
INSERT INTO timeline VALUES(9,'inc-key-2',1800000011000,'page','operations','lee','sms','page:inc-key-2:operations:1:1:lee',NULL,'paged lee of operations by sms (round 1 step 1)','{"ack_deadline":"1800000311000","drill":"false","reason":"department engaged: activation rule"}');
INSERT INTO timeline VALUES(10,'inc-key-2',1800000011000,'status-update',NULL,NULL,NULL,'status:inc-key-2:1',NULL,'status update 1: open, opened','{"reason":"opened","seq":"1","state":"open"}');
INSERT INTO timeline VALUES(11,'inc-key-2',1800000011000,'counted',NULL,NULL,NULL,'incident:evt-11',NULL,'counted incident:evt-11','{}');
INSERT INTO timeline VALUES(12,'inc-key-2',1800000008000,'counted',NULL,NULL,NULL,'incident:evt-8',NULL,'counted incident:evt-8','{}');
INSERT INTO timeline VALUES(13,'inc-key-1',1800000007000,'counted',NULL,NULL,NULL,'incident:evt-7',NULL,'counted incident:evt-7','{}');
INSERT INTO timeline VALUES(14,'inc-key-0',1800000006000,'opened',NULL,NULL,NULL,NULL,NULL,'opened: warehouse-fire, severity II','{"drill":"false","severity":"2","type":"warehouse-fire"}');
INSERT INTO timeline VALUES(15,'inc-key-0',1800000006000,'department-engaged','operations',NULL,NULL,NULL,NULL,'operations engaged (activation rule)','{"reason":"activation rule"}');
INSERT INTO timeline VALUES(16,'inc-key-0',1800000006000,'page','operations','lee','sms','page:inc-key-0:operations:1:1:lee',NULL,'paged lee of operations by sms (round 1 step 1)','{"ack_deadline":"1800000306000","drill":"false","reason":"department engaged: activation rule"}');
INSERT INTO timeline VALUES(17,'inc-key-0',1800000006000,'status-update',NULL,NULL,NULL,'status:inc-key-0:1',NULL,'status update 1: open, opened','{"reason":"opened","seq":"1","state":"open"}');
INSERT INTO timeline VALUES(18,'inc-key-0',1800000006000,'counted',NULL,NULL,NULL,'incident:evt-6',NULL,'counted incident:evt-6','{}');
INSERT INTO timeline VALUES(19,'inc-key-0',1800000003000,'counted',NULL,NULL,NULL,'incident:evt-3',NULL,'counted incident:evt-3','{}');
INSERT INTO timeline VALUES(20,'inc-key-2',1800000005000,'counted',NULL,NULL,NULL,'incident:evt-5',NULL,'counted incident:evt-5','{}');
INSERT INTO timeline VALUES(21,'inc-key-0',1800000000000,'counted',NULL,NULL,NULL,'incident:evt-0',NULL,'counted incident:evt-0','{}');
INSERT INTO timeline VALUES(22,'inc-key-1',1800000010000,'counted',NULL,NULL,NULL,'incident:evt-10',NULL,'counted incident:evt-10','{}');
INSERT INTO timeline VALUES(23,'inc-key-0',1800000009000,'counted',NULL,NULL,NULL,'incident:evt-9',NULL,'counted incident:evt-9','{}');
INSERT INTO timeline VALUES(24,'inc-key-2',1800000002000,'counted',NULL,NULL,NULL,'incident:evt-2',NULL,'counted incident:evt-2','{}');
CREATE TABLE parcel (
    incident_id TEXT NOT NULL,
    waybill TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    locale TEXT,
    PRIMARY KEY (incident_id, waybill)
);
CREATE TABLE parcel_notice (
    incident_id TEXT NOT NULL,
    waybill TEXT NOT NULL,
    kind TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (incident_id, waybill, kind)
) WITHOUT ROWID;
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('timeline',24);
INSERT INTO sqlite_sequence VALUES('outbox',6);
CREATE UNIQUE INDEX incident_open_key ON incident(incident_key) WHERE resolved_at IS NULL;
CREATE INDEX incident_key_opened ON incident(incident_key, opened_at);
CREATE INDEX incident_resolved_at ON incident(resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX outbox_unpublished ON outbox(seq) WHERE published_at IS NULL;
CREATE INDEX timeline_incident ON timeline(incident_id, at, seq);
CREATE INDEX timeline_kind_at ON timeline(kind, at);
CREATE INDEX due_time_unclaimed ON due_time(due_at) WHERE claimed_until IS NULL;
CREATE INDEX due_time_claimed ON due_time(claimed_until) WHERE claimed_until IS NOT NULL;
CREATE INDEX inbox_processed_at ON inbox(processed_at);
COMMIT;
