/// The thoughts of the household expert's answers: what it sees and holds, the task, and why this command.
enum HouseholdThoughts {
    static func text(_ w: HouseholdWorld, _ t: HouseholdTask, _ c: HouseholdCommand, _ reason: HouseholdExpert.Reason,
                     description: String? = nil) -> String {
        let types = HouseholdTypes.shared
        var s = w.at >= 0 ? "I am at \(w.name(receptacle: w.at))" : "I am in the middle of the room"
        s += w.held >= 0 ? " and I am carrying \(w.name(object: w.held)). " : " and I am carrying nothing. "
        s += "My task is to \(description ?? t.description). "
        let obj = t.objectName
        switch reason {
        case .search(let type):
            s += "I have not found a \(types.objectNames[type]) I can use yet, and I have not looked in \(w.name(receptacle: target(c))), which may hold one, so I go there."
        case .openToSearch(let type):
            s += "The \(w.name(receptacle: w.at)) is closed and may hold a \(types.objectNames[type]), so I open it."
        case .goToObject(let o):
            s += "I saw \(w.name(object: o)) in \(w.name(receptacle: w.location[o])), so I go there to take it."
        case .openToTake(let o):
            s += "The \(w.name(object: o)) is in the closed \(w.name(receptacle: w.at)), so I open it first."
        case .take(let o):
            s += "The \(w.name(object: o)) is here, so I take it."
        case .goToAppliance(let r):
            let verb = t.type == .clean ? "clean" : t.type == .heat ? "heat" : "cool"
            s += "The \(obj) must be \(t.type == .clean ? "clean" : t.type == .heat ? "hot" : "cool") first, so I go to \(w.name(receptacle: r)) to \(verb) it."
        case .treat(let o):
            let verb = t.type == .clean ? "clean" : t.type == .heat ? "heat" : "cool"
            s += "I am at the \(w.name(receptacle: w.at)) with the \(w.name(object: o)), so I \(verb) it here."
        case .goToLamp(let l):
            s += "I have the \(obj); the \(w.name(object: l)) is in \(w.name(receptacle: w.location[l])), so I go there to look at it under the light."
        case .useLamp(let l):
            s += "I hold the \(obj) next to the \(w.name(object: l)), so I turn the lamp on."
        case .goToTarget(let r):
            s += "The \(obj) is ready, so I go to \(w.name(receptacle: r)) to put it there."
        case .openTarget(let r):
            s += "The \(w.name(receptacle: r)) is closed, so I open it before putting the \(obj) in it."
        case .place(let r):
            s += "I am at \(w.name(receptacle: r)) with the \(obj), so I put it here."
        case .returnObject(let o):
            s += "The \(w.name(object: o)) is not what the task needs, so I put it back in \(w.name(receptacle: target(c)))."
        case .lookAround:
            s += "I look around."
        }
        return s
    }

    static func target(_ c: HouseholdCommand) -> Int {
        switch c {
        case .goTo(let r), .open(let r), .close(let r), .examineReceptacle(let r): return r
        case .take(_, let r), .put(_, let r), .move(_, let r), .clean(_, let r), .heat(_, let r), .cool(_, let r): return r
        default: return 0
        }
    }
}
