package httpapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/problem"
)

// recoverProblem answers a handler's panic with the generic 500 problem, as
// every other server error is answered, and then lets the panic go on to
// the request logger, which records it with its stack. An aborted handler
// (http.ErrAbortHandler) has no answer to write.
func recoverProblem(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r != http.ErrAbortHandler && !c.Writer.Written() {
			problem.Write(c, problem.ErrInternal.Wrap(fmt.Errorf("panic: %v", r)))
		}
		panic(r)
	}()
	c.Next()
}
