module github.com/parleychat/parley/gateway

go 1.26.8

require github.com/parleychat/parley/shared v0.1.0

replace github.com/parleychat/parley/shared => ../shared
