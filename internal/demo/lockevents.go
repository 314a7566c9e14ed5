package demo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/knutpunkt/knutpunkt/adapters/nuki/nukisim"
)

// WriteLockEvents writes n lock events of a city's doors as Nuki's log gives them, one
// JSON object per line, oldest first from start: the input of the lock-event import
// benchmark. Each visit is an unlock by the app (now and then refused, or by a keypad
// code), the door opened and closed, and a lock when staff leave; locks are 20 times
// the staff, as a home-care district has them.
func WriteLockEvents(w io.Writer, n int, start time.Time, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 0x6c6f636b))
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	const staff, locks = 2000, 40000
	at := start.UTC()
	for i := 0; i < n; {
		lock := int64(17001 + r.IntN(locks))
		user := 3001 + r.IntN(staff)
		auth := fmt.Sprintf("5e%022x", user*locks+int(lock))
		at = at.Add(time.Duration(1+r.IntN(40)) * time.Second)
		visit := []nukisim.Log{
			{SmartlockID: lock, AccountUserID: user, AuthID: auth, Name: fmt.Sprintf("TSTNMT2321000156-%04d", user), Action: 1, Trigger: 5, Date: at},
			{SmartlockID: lock, Name: "Door sensor", Action: 240, Date: at.Add(20 * time.Second)},
			{SmartlockID: lock, Name: "Door sensor", Action: 241, Date: at.Add(35 * time.Second)},
			{SmartlockID: lock, AccountUserID: user, AuthID: auth, Name: fmt.Sprintf("TSTNMT2321000156-%04d", user), Action: 2, Trigger: 5,
				Date: at.Add(time.Duration(10+r.IntN(50)) * time.Minute)},
		}
		switch r.IntN(50) {
		case 0: // refused: no grant in force, or night mode
			visit[0].State, visit = 9, visit[:1]
		case 1: // a keypad code
			visit[0].Trigger, visit[0].Source, visit[0].AccountUserID = 255, 1, 0
		}
		for _, e := range visit {
			if i == n {
				break
			}
			e.ID, e.DeviceType = fmt.Sprintf("5f%022x", i+1), 4
			if err := enc.Encode(e); err != nil {
				return err
			}
			i++
		}
	}
	return bw.Flush()
}
