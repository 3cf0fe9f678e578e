module hbpool.example/client

go 1.21
