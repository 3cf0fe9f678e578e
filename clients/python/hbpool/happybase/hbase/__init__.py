"""hbpool.happybase.hbase: where HappyBase programs import the Thrift exceptions from."""
